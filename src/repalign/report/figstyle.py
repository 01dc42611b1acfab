"""One look for every figure, and the formats they are written in.

* :func:`paper_style` is a context manager: inside it, new matplotlib figures use one font
  family and size set, the Okabe-Ito colour cycle (distinguishable with the common forms of
  colour blindness; Okabe & Ito 2008) and the perceptually uniform ``viridis`` colour map;
  SVG keeps text as text and PDF embeds TrueType fonts, so journals can edit labels.
* :func:`save_figure` writes a figure as PNG at the given path and, for every extra format
  set by the enclosing :func:`paper_style` (``formats=("png", "svg", "pdf")``), also next to
  it with the same stem (``fig.png``, ``fig.svg``, ``fig.pdf``). The studies call it instead
  of ``fig.savefig``, so ``repalign demo --figure-format png,svg,pdf`` reaches every figure.
* :func:`parse_formats` checks a ``--figure-format`` value.
"""

from __future__ import annotations

import contextlib
import contextvars
from pathlib import Path
from typing import Any, Iterator, Sequence

# Okabe & Ito (2008), "Color Universal Design": black first is left out so lines stay coloured.
OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")
FORMATS = ("png", "svg", "pdf")

_formats: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("figure_formats", default=("png",))

RC = {
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],  # ships with matplotlib: the same glyphs on every machine
    "font.size": 9.0,
    "axes.titlesize": 10.0,
    "axes.labelsize": 9.0,
    "xtick.labelsize": 8.0,
    "ytick.labelsize": 8.0,
    "legend.fontsize": 7.5,
    "image.cmap": "viridis",
    "svg.fonttype": "none",
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
}


def parse_formats(value: str | Sequence[str]) -> tuple[str, ...]:
    """``"png,svg,pdf"`` (or a sequence) -> ``("png", "svg", "pdf")``; PNG is always
    included (the HTML report embeds it). Unknown formats raise ``ValueError``."""
    items = value.split(",") if isinstance(value, str) else list(value)
    out = ["png"]
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f"figure formats must be strings; got {type(item).__name__}")
        f = item.strip().lower().lstrip(".")
        if not f:
            continue
        if f not in FORMATS:
            raise ValueError(f"figure format {item!r} is not one of {', '.join(FORMATS)}")
        if f not in out:
            out.append(f)
    return tuple(out)


def current_formats() -> tuple[str, ...]:
    """The formats :func:`save_figure` writes here (``("png",)`` outside :func:`paper_style`)."""
    return _formats.get()


@contextlib.contextmanager
def paper_style(formats: str | Sequence[str] = ("png",)) -> Iterator[tuple[str, ...]]:
    """Figures made inside use :data:`RC` and the Okabe-Ito cycle; :func:`save_figure`
    writes ``formats``. Restores the previous settings on exit."""
    import matplotlib as mpl
    from cycler import cycler

    fmts = parse_formats(formats)
    token = _formats.set(fmts)
    try:
        with mpl.rc_context({**RC, "axes.prop_cycle": cycler(color=list(OKABE_ITO))}):
            yield fmts
    finally:
        _formats.reset(token)


def save_figure(fig: Any, path: str | Path, dpi: int = 110, tight: bool = True) -> Path:
    """Write ``fig`` to ``path`` as PNG and in the extra :func:`current_formats` beside it
    (same stem, ``.svg`` / ``.pdf``). Returns ``path``."""
    path = Path(path)
    if path.suffix.lower().lstrip(".") in FORMATS and path.suffix.lower() != ".png":
        raise ValueError(f"path is where the PNG goes (e.g. fig.png); got {str(path)!r}")
    kw = {"bbox_inches": "tight"} if tight else {}
    fig.savefig(path, format="png", dpi=dpi, **kw)
    for fmt in current_formats():
        if fmt != "png":
            fig.savefig(path.with_suffix(f".{fmt}"), format=fmt, **kw)
    return path


def unlabelled_axes(fig: Any) -> list[str]:
    """Descriptions of the axes of ``fig`` that have data but lack an x or y label (a check
    for tests: every figure's axes carry labels)."""
    missing = []
    for i, ax in enumerate(fig.axes):
        if not ax.has_data() or getattr(ax, "_colorbar", None) is not None or ax.get_label() == "<colorbar>":
            continue
        for which, label in (("x", ax.get_xlabel()), ("y", ax.get_ylabel())):
            if not label.strip():
                missing.append(f"axes {i} ({ax.get_title() or 'untitled'}): no {which} label")
    return missing
