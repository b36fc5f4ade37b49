"""Run a notebook top to bottom (nbclient) with its parameters set through the
environment; keep the executed copy and its HTML rendering under build/notebooks/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
ARTIFACTS = Path(os.environ.get("CARAVAN_NB_ARTIFACTS") or REPO / "build" / "notebooks")


def execute(name: str, params: dict[str, object], tmp_path: Path, monkeypatch) -> dict:
    """Execute notebooks/<name>.ipynb; fail on the first erroring cell.

    Returns {"notebook": executed node, "figures": folder the notebook saved PNGs into}.
    """
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    figures = tmp_path / "figures"
    monkeypatch.setenv("CARAVAN_NB_FIGURE_DIR", str(figures))
    for key, value in params.items():
        monkeypatch.setenv(f"CARAVAN_NB_{key.upper()}", str(value))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel picks inline, as in Jupyter
    book = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    client = nbclient.NotebookClient(
        book, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    try:
        client.execute()
    finally:
        _keep(name, book, figures)
    return {"notebook": book, "figures": figures}


def _keep(name: str, book, figures: Path) -> None:
    """The executed copy as .ipynb and .html, plus its PNGs: CI uploads build/notebooks/."""
    import shutil

    import nbformat

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    nbformat.write(book, ARTIFACTS / f"{name}.ipynb")
    try:
        from nbconvert import HTMLExporter
    except ImportError:
        pass
    else:
        body, _ = _html_exporter(HTMLExporter).from_notebook_node(book)
        (ARTIFACTS / f"{name}.html").write_text(body, encoding="utf-8")
    docs = os.environ.get("CARAVAN_NB_DOCS")  # `make notebook-figures`: refresh docs/ pictures
    for png in figures.glob("*.png") if figures.exists() else []:
        shutil.copy(png, ARTIFACTS / png.name)
        if docs:  # relative to the repository (tests change the working directory)
            (REPO / docs).mkdir(parents=True, exist_ok=True)
            shutil.copy(png, REPO / docs / png.name)


def outputs(book, kind: str = "text/plain") -> list[str]:
    """Every output of `kind` (stream text counts as text/plain) in cell order."""
    out = []
    for cell in book.cells:
        for o in cell.get("outputs", []):
            if o.get("output_type") == "stream" and kind == "text/plain":
                out.append(o["text"])
            elif kind in o.get("data", {}):
                out.append(o["data"][kind])
    return out


def _html_exporter(cls):
    """nbconvert's exporter. Its templates live under the prefix nbconvert was installed
    into, which is not sys.prefix when a venv borrows another venv's packages."""
    import nbconvert

    share = Path(nbconvert.__file__).resolve().parents[4] / "share" / "jupyter"
    paths = [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p]
    if (share / "nbconvert").is_dir() and str(share) not in paths:
        os.environ["JUPYTER_PATH"] = os.pathsep.join([*paths, str(share)])
    return cls()
