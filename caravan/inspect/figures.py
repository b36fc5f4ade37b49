"""matplotlib, imported once, headless; small PNGs for files, docs and HTML reports."""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path
from typing import Any

from caravan.errors import CaravanError

INSTALL_HINT = "plots need matplotlib: pip install 'caravan-posttrain[inspect]'"


def pyplot() -> Any:
    """`matplotlib.pyplot` on the Agg backend (no display needed), or one clear error."""
    try:
        import matplotlib
    except ImportError as exc:
        raise CaravanError(INSTALL_HINT) from exc
    if not os.environ.get("MPLBACKEND"):  # a notebook kernel sets its inline backend here
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def grid(n: int, cols: int = 2, cell: tuple[float, float] = (4.2, 2.8)) -> tuple[Any, list[Any]]:
    """A figure with `n` axes laid out in rows of `cols`; unused cells are hidden."""
    plt = pyplot()
    rows = max(1, -(-n // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cell[0] * cols, cell[1] * rows), squeeze=False)
    flat = [ax for row in axes for ax in row]
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def empty(ax: Any, title: str, why: str = "no data") -> None:
    ax.set_title(title)
    ax.text(0.5, 0.5, why, ha="center", va="center", transform=ax.transAxes, color="grey")
    ax.set_xticks([])
    ax.set_yticks([])


def barh(ax: Any, labels: list[str], values: list[float], title: str, xlabel: str = "") -> None:
    """Horizontal bars, largest on top (labels stay readable when long)."""
    if not labels:
        empty(ax, title)
        return
    ax.barh(range(len(labels))[::-1], values, color="#4c72b0")
    ax.set_yticks(range(len(labels))[::-1], [lbl[:40] for lbl in labels], fontsize=7)
    ax.set_title(title)
    ax.set_xlabel(xlabel)


def hist(
    ax: Any,
    values: list[float],
    title: str,
    xlabel: str = "",
    bins: int = 20,
    limits: tuple[float, float] | None = None,
) -> None:
    if not values:
        empty(ax, title)
        return
    ax.hist(values, bins=bins, range=limits, color="#4c72b0", edgecolor="white")
    ax.set_title(title)
    ax.set_xlabel(xlabel)


def to_png(fig: Any, dpi: int = 80) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def png_base64(fig: Any, dpi: int = 80) -> str:
    """A `data:` URI, so an HTML report needs no side files."""
    return "data:image/png;base64," + base64.b64encode(to_png(fig, dpi)).decode("ascii")


def save_png(fig: Any, path: str | Path, dpi: int = 72) -> Path:
    """Write `fig` as a PNG (parents created, written atomically) and close it."""
    from caravan.records.writers import atomic_path

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    data = to_png(fig, dpi)
    with atomic_path(out, "wb") as fh:
        fh.write(data)
    pyplot().close(fig)
    return out


def show(fig: Any, name: str, figure_dir: str | Path | None = None) -> Any:
    """Notebook helper: display `fig` inline, save it as `figure_dir/name.png` when a
    folder is given (how docs/ pictures are made), then close it."""
    try:
        from IPython.display import display

        display(fig)
    except ImportError:  # plain Python: saving is all we can do
        pass
    if figure_dir:
        save_png(fig, Path(figure_dir) / f"{name}.png")
    else:
        pyplot().close(fig)
    return None
