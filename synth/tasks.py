"""The synthesis tasks (a light module: the CLI lists them without loading llm/)."""

TASKS = ("if", "math", "gsm", "algebra", "code", "instruction")
