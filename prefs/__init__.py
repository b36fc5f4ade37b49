"""On-policy prompt-to-preference pipeline with an LLM judge."""
