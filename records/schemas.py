"""The dataset shapes every stage exchanges, as Arrow schemas.

Column names follow what TRL and open-instruct read, so our files load into their trainers
without renaming: `messages` for SFT and RLVR, `prompt`/`chosen`/`rejected` for preferences,
`ground_truth`/`dataset`/`constraint_type`/`constraint` for RLVR.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

ROLES = ("system", "user", "assistant", "tool")

MESSAGE = pa.struct([pa.field("role", pa.string()), pa.field("content", pa.string())])
MESSAGES = pa.list_(MESSAGE)


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    required: bool
    doc: str


@dataclass(frozen=True)
class RecordKind:
    """One dataset shape: its columns (required and optional) and what it is for."""

    name: str
    doc: str
    columns: tuple[Column, ...]
    trl_hint: str = ""
    aliases: tuple[str, ...] = field(default=())

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def schema(self, extra: list[pa.Field] | None = None) -> pa.Schema:
        """The Arrow schema: our columns first, then any extra (metadata) columns."""
        fields = [pa.field(c.name, c.type, nullable=not c.required) for c in self.columns]
        return pa.schema(fields + list(extra or []))


_ID = Column("id", pa.string(), True, "Unique row id (stable across runs).")

SFT = RecordKind(
    name="sft",
    doc="Supervised fine-tuning conversations; loss falls on assistant turns.",
    columns=(
        _ID,
        Column("messages", MESSAGES, True, "Conversation as a list of {role, content}."),
        Column("source", pa.string(), True, "Where the row came from (dataset or generator)."),
    ),
    trl_hint="trl.SFTTrainer reads the `messages` column (conversational format).",
)

PREFERENCE = RecordKind(
    name="preference",
    doc="Preference pairs for DPO: a prompt, a preferred and a dispreferred continuation.",
    columns=(
        _ID,
        Column("prompt", MESSAGES, True, "Conversation up to and including the last user turn."),
        Column("chosen", MESSAGES, True, "Preferred assistant continuation."),
        Column("rejected", MESSAGES, True, "Dispreferred assistant continuation."),
        Column("score_chosen", pa.float64(), False, "Score of the chosen response, if rated."),
        Column("score_rejected", pa.float64(), False, "Score of the rejected response, if rated."),
    ),
    trl_hint="trl.DPOTrainer reads `prompt`, `chosen`, `rejected` (explicit-prompt format).",
    aliases=("prefs", "pref", "dpo"),
)

RLVR = RecordKind(
    name="rlvr",
    doc="Prompts with verifiable ground truth for RL with verifiable rewards.",
    columns=(
        _ID,
        Column("messages", MESSAGES, True, "Prompt conversation ending with a user turn."),
        Column("ground_truth", pa.string(), True, "What the verifier checks against."),
        Column("dataset", pa.string(), True, "Verifier name (gsm8k, MATH, ifeval, ...)."),
        Column("constraint_type", pa.string(), False, "IF constraint family, if any."),
        Column("constraint", pa.string(), False, "IF constraint text, if any."),
    ),
    trl_hint="trl.GRPOTrainer passes `ground_truth` and `dataset` to reward functions.",
    aliases=("grpo", "rl"),
)

KINDS: dict[str, RecordKind] = {k.name: k for k in (SFT, PREFERENCE, RLVR)}


def get_kind(name: str | RecordKind) -> RecordKind:
    """Look a kind up by name or alias; the error lists the valid names."""
    if isinstance(name, RecordKind):
        return name
    key = name.strip().lower()
    for kind in KINDS.values():
        if key == kind.name or key in kind.aliases:
            return kind
    from caravan.errors import CaravanError

    raise CaravanError(f"unknown record kind {name!r}; choose one of: {', '.join(KINDS)}")
