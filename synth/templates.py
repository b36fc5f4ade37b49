"""Prompt templates: text files with {placeholders}, bundled or supplied with --template.

Only the named placeholders are filled (plain replacement, not str.format), so templates may
hold LaTeX braces and JSON freely. Every row records the template's name and the sha256 of
its text, so a dataset says exactly which wording produced it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from caravan.errors import CaravanError

# Placeholders each template must contain.
REQUIRED: dict[str, tuple[str, ...]] = {
    "generate_if": ("persona", "constraints"),
    "generate_math": ("persona",),
    "generate_gsm": ("persona",),
    "generate_algebra": ("persona",),
    "generate_code": ("persona",),
    "generate_instruction": ("persona",),
    "relax_if": ("prompt", "dropped", "kept"),
    "solve_math": ("prompt",),
    "solve_gsm": ("prompt",),
    "solve_code": ("prompt",),
}


@dataclass(frozen=True)
class Template:
    name: str
    text: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    def render(self, **values: str) -> str:
        out = self.text
        for key, value in values.items():
            out = out.replace("{" + key + "}", value)
        return out.strip()


def bundled_template(kind: str) -> Template:
    if kind not in REQUIRED:
        raise CaravanError(f"no bundled template {kind!r}; known: {', '.join(REQUIRED)}")
    text = (resources.files("caravan.synth") / "prompt_templates" / f"{kind}.txt").read_text(
        encoding="utf-8"
    )
    return Template(kind, text)


def load_template(kind: str, path: str | Path | None = None) -> Template:
    """The bundled template for `kind`, or the user's file (checked for its placeholders)."""
    if path is None:
        return bundled_template(kind)
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CaravanError(f"{path}: cannot read the template: {exc}") from exc
    missing = [p for p in REQUIRED.get(kind, ()) if "{" + p + "}" not in text]
    if missing:
        raise CaravanError(
            f"{path}: a {kind} template needs the placeholder(s) "
            + ", ".join("{" + m + "}" for m in missing)
        )
    return Template(path.name, text)
