"""Persona-driven synthesis of verifiable prompts and solutions."""
