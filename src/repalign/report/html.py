"""The :class:`Report` builder: one self-contained HTML file plus its JSON twin.

Self-contained means the HTML needs nothing else to display: the style sheet is inline,
there is no JavaScript, figures are ``<img src="data:image/png;base64,...">`` and the only
links are in-page anchors (``href="#sec-2"``). Every piece of user text (titles, captions,
table cells, parameters, JSON blocks) goes through :func:`html.escape`, so text such as
``<script>`` is shown, never run.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import json
import math
import platform
import re
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;max-width:1100px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{border-bottom:2px solid #444;padding-bottom:.2em}
h2{border-bottom:1px solid #bbb;padding-bottom:.15em;margin-top:2em}
table{border-collapse:collapse;margin:.8em 0;font-size:.92em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f0f0f0}
td.s,th.s{text-align:left}
caption{caption-side:top;text-align:left;font-style:italic;padding:.2em 0}
figure{margin:1em 0}
figure img{max-width:100%;height:auto;border:1px solid #ddd}
figcaption{font-style:italic;font-size:.92em}
pre{background:#f7f7f7;border:1px solid #ddd;padding:.6em;overflow-x:auto;font-size:.85em}
code{background:#f2f2f2;padding:0 .2em}
.plain{white-space:pre-wrap}
.meta{font-size:.85em;color:#555}
nav ol{columns:2}
"""


# ---------------------------------------------------------------------------- JSON
def to_jsonable(obj: Any, name: str = "obj") -> Any:
    """Convert ``obj`` to plain JSON types (dict, list, str, int, float, bool, None).

    numpy arrays and scalars become lists and numbers; non-finite floats become ``None``
    (strict JSON has no NaN); objects with ``to_dict()`` (e.g.
    :class:`~repalign.stats.CalibrationResult`), dataclasses, pandas DataFrames (list of
    records) and paths are converted. Anything else raises ``ValueError``.
    """
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, np.integer)) and not isinstance(obj, np.bool_):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist(), name)
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v, f"{name}[{k!r}]") for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v, f"{name}[{i}]") for i, v in enumerate(obj)]
    if _is_dataframe(obj):
        return to_jsonable(obj.to_dict(orient="records"), name)
    if hasattr(obj, "to_dict") and callable(obj.to_dict):
        return to_jsonable(obj.to_dict(), name)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(dataclasses.asdict(obj), name)
    raise ValueError(f"{name} holds a value of type {type(obj).__name__}, which has no JSON form")


def _is_dataframe(obj: Any) -> bool:
    return all(hasattr(obj, a) for a in ("to_dict", "columns", "index", "iloc"))


# ---------------------------------------------------------------------------- text
def _inline(escaped: str) -> str:
    """``**bold**`` and ```code``` on already-escaped text."""
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", escaped)


def _markdownish(text: str) -> str:
    """Paragraphs (blank-line separated), ``- item`` lists, ``**bold**`` and ```code```."""
    out = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = [ln.strip() for ln in block.splitlines() if ln.strip()]
        if not lines:
            continue
        if all(ln.startswith(("- ", "* ")) for ln in lines):
            items = "".join(f"<li>{_inline(html.escape(ln[2:]))}</li>" for ln in lines)
            out.append(f"<ul>{items}</ul>")
        else:
            out.append(f"<p>{_inline(html.escape(' '.join(lines)))}</p>")
    return "\n".join(out)


# ---------------------------------------------------------------------------- tables
def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.4g}"
    if isinstance(v, np.ndarray):
        return np.array2string(v, precision=4, threshold=20)
    return str(v)


def _table_rows(data: Any, header: Any) -> tuple[list[str] | None, list[list[Any]]]:
    """Normalise a table source to (column names or None, rows)."""
    if _is_dataframe(data):
        df = data if type(data.index).__name__ == "RangeIndex" else data.reset_index()
        return [str(c) for c in df.columns], [list(r) for r in df.itertuples(index=False)]
    if isinstance(data, dict):
        cols = list(data)
        vals = list(data.values())
        if vals and all(_is_column(v) for v in vals):
            lengths = {len(v) for v in vals}
            if len(lengths) != 1:
                raise ValueError(f"rows: the columns of a dict table must have equal lengths; got {sorted(lengths)}")
            return [str(c) for c in cols], [list(r) for r in zip(*vals)]
        return ["name", "value"], [[k, v] for k, v in data.items()]
    if isinstance(data, (list, tuple)):
        rows = list(data)
        if rows and all(isinstance(r, dict) for r in rows):
            cols: list[str] = []
            for r in rows:
                cols += [k for k in r if k not in cols]
            return [str(c) for c in cols], [[r.get(c) for c in cols] for r in rows]
        if all(isinstance(r, (list, tuple, np.ndarray)) for r in rows):
            cols = None if header is None else [str(h) for h in header]
            return cols, [list(r) for r in rows]
    raise ValueError(
        "rows must be a pandas DataFrame, a dict (name -> value or column -> list), a list of dicts "
        f"or a list of row sequences; got {type(data).__name__}"
    )


def _is_column(v: Any) -> bool:
    return isinstance(v, (list, tuple)) or (isinstance(v, np.ndarray) and v.ndim == 1)


def _table_html(cols: list[str] | None, rows: list[list[Any]], caption: str | None) -> str:
    parts = ["<table>"]
    if caption:
        parts.append(f"<caption>{html.escape(caption)}</caption>")
    if cols is not None:
        parts.append("<thead><tr>" + "".join(f'<th class="s">{html.escape(c)}</th>' for c in cols) + "</tr></thead>")
    body = []
    for r in rows:
        cells = []
        for v in r:
            cls = "" if isinstance(v, (int, float, np.number)) and not isinstance(v, bool) else ' class="s"'
            cells.append(f"<td{cls}>{html.escape(_cell(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("<tbody>" + "".join(body) + "</tbody></table>")
    return "".join(parts)


# ---------------------------------------------------------------------------- figures
def _png_bytes(fig: Any, dpi: int) -> bytes:
    if hasattr(fig, "savefig"):
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
        data = buf.getvalue()
    elif isinstance(fig, (bytes, bytearray)):
        data = bytes(fig)
    elif isinstance(fig, (str, Path)):
        path = Path(fig)
        if not path.is_file():
            raise ValueError(f"fig: no PNG file at {str(path)!r}")
        data = path.read_bytes()
    else:
        raise ValueError(f"fig must be a matplotlib Figure, PNG bytes or a PNG file path; got {type(fig).__name__}")
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("fig: the image is not a PNG (bad signature); only PNG images are embedded")
    return data


# ---------------------------------------------------------------------------- versions
def software_versions() -> dict[str, str]:
    """Versions of python, the platform, repalign, numpy, scipy, scikit-learn, and of
    torch and matplotlib when they are already imported (never imported here)."""
    from importlib import metadata

    import scipy

    def dist(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    out = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "repalign": dist("repalign"),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": dist("scikit-learn"),
    }
    for mod in ("torch", "matplotlib"):
        if mod in sys.modules:
            out[mod] = str(getattr(sys.modules[mod], "__version__", "unknown"))
    return out


# ---------------------------------------------------------------------------- report
class Report:
    """A report built block by block and written as one self-contained HTML file.

    Parameters
    ----------
    title : str

    Examples
    --------
    >>> rep = Report("Transfer study")
    >>> rep.params({"seeds": 5})
    >>> rep.section("Variance explained")
    >>> rep.text("The new task lives **inside** the pretraining subspace.")
    >>> rep.table({"fraction": 0.93, "p": 0.002}, caption="Random-basis null")
    >>> rep.json("cross_variance", {"cross": [0.5, 0.9]})
    >>> path = rep.save("out/")      # out/report.html and out/report.json
    """

    def __init__(self, title: str) -> None:
        self.title = _check_text(title, "title")
        self.created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.versions = software_versions()
        self._params: dict[str, Any] = {}
        self._sections: list[str] = []
        self._blocks: list[str] = []
        self._data: dict[str, Any] = {}
        self._tables: list[dict[str, Any]] = []
        self._n_figures = 0

    # -- content --------------------------------------------------------------------
    def section(self, title: str) -> "Report":
        """Start a new section (``<h2>``, listed in the table of contents)."""
        title = _check_text(title, "title")
        self._sections.append(title)
        i = len(self._sections)
        self._blocks.append(f'</section>\n<section id="sec-{i}"><h2>{html.escape(title)}</h2>')
        return self

    def text(self, text: str, markdown: bool = True) -> "Report":
        """Add text. With ``markdown=True``: blank-line paragraphs, ``- `` lists,
        ``**bold**`` and ```code```; otherwise shown as is (line breaks kept)."""
        text = _check_text(text, "text", allow_empty=True)
        self._blocks.append(_markdownish(text) if markdown else f'<p class="plain">{html.escape(text)}</p>')
        return self

    def table(self, rows: Any, caption: str | None = None, header: Any = None) -> "Report":
        """Add a table; its values also go to the JSON (``tables``).

        Parameters
        ----------
        rows : DataFrame, dict, list of dicts, or list of row sequences
            A dict of scalars is shown as name/value rows; a dict of equal-length lists
            as columns. A non-default DataFrame index becomes a column.
        caption : str, optional
        header : sequence of str, optional
            Column names for a list of row sequences.
        """
        cols, body = _table_rows(rows, header)
        caption = None if caption is None else _check_text(caption, "caption", allow_empty=True)
        self._blocks.append(_table_html(cols, body, caption))
        self._tables.append({
            "section": self._sections[-1] if self._sections else None,
            "caption": caption,
            "columns": cols,
            "rows": to_jsonable(body, "rows"),
        })
        return self

    def figure(self, fig: Any, caption: str | None = None, dpi: int = 110) -> "Report":
        """Embed a figure as a base64 PNG.

        Parameters
        ----------
        fig : matplotlib Figure, PNG bytes, or path to a PNG file
        caption : str, optional
        dpi : int
            Resolution used to render a Figure.
        """
        data = _png_bytes(fig, dpi)
        caption = None if caption is None else _check_text(caption, "caption", allow_empty=True)
        self._n_figures += 1
        alt = html.escape(caption or f"figure {self._n_figures}")
        cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
        src = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
        self._blocks.append(f'<figure><img src="{src}" alt="{alt}">{cap}</figure>')
        return self

    def json(self, name: str, obj: Any) -> "Report":
        """Store ``obj`` under ``name`` in the JSON (``data``) and show it, folded, in the HTML."""
        name = _check_text(name, "name")
        if name in self._data:
            raise ValueError(f"name {name!r} is already used by another json block")
        self._data[name] = to_jsonable(obj, name)
        text = json.dumps(self._data[name], indent=2, allow_nan=False)
        self._blocks.append(
            f"<details><summary>{html.escape(name)} (JSON)</summary><pre>{html.escape(text)}</pre></details>"
        )
        return self

    def params(self, params: dict) -> "Report":
        """Record run parameters (merged over earlier calls); shown at the top and in the JSON."""
        if not isinstance(params, dict):
            raise ValueError(f"params must be a dict; got {type(params).__name__}")
        self._params.update(to_jsonable(params, "params"))
        return self

    # -- output ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The JSON document: generator, title, created, versions, params, sections, tables, data."""
        return {
            "generator": "repalign.report",
            "title": self.title,
            "created": self.created,
            "versions": dict(self.versions),
            "params": dict(self._params),
            "sections": list(self._sections),
            "tables": list(self._tables),
            "data": dict(self._data),
        }

    def to_html(self) -> str:
        """The whole document as one HTML string."""
        head = (
            f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">{_GENERATOR_TAG}'
            f"<title>{html.escape(self.title)}</title><style>{_CSS}</style></head><body>"
        )
        meta = _table_html(["software", "version"], [[k, v] for k, v in self.versions.items()], None)
        parts = [head, f"<h1>{html.escape(self.title)}</h1>",
                 f'<p class="meta">Generated {html.escape(self.created)} (UTC)</p>']
        if self._sections:
            toc = "".join(f'<li><a href="#sec-{i}">{html.escape(t)}</a></li>' for i, t in enumerate(self._sections, 1))
            parts.append(f"<nav><ol>{toc}</ol></nav>")
        if self._params:
            parts.append(_table_html(["parameter", "value"], [[k, _param_cell(v)] for k, v in self._params.items()],
                                     "Parameters"))
        parts.append("<section>")
        parts.extend(self._blocks)
        parts.append("</section>")
        parts.append(f'<footer class="meta"><h3>Environment</h3>{meta}</footer></body></html>')
        return "\n".join(parts)

    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write ``report.html`` and ``report.json``.

        ``path`` is a directory (created if needed; files ``report.html`` and ``report.json``
        inside it) or a file name ending in ``.html`` (the JSON goes next to it with the
        same stem). Returns the HTML path. A file already there that a repalign report did not
        write (no repalign generator mark) is not replaced unless ``overwrite=True``: ValueError.
        """
        path = Path(path)
        html_path = path if path.suffix.lower() in (".html", ".htm") else path / "report.html"
        json_path = html_path.with_suffix(".json")
        if not overwrite:
            for p in (html_path, json_path):
                if p.exists() and not _written_by_report(p):
                    raise ValueError(f"{p} exists and was not written by a repalign report; choose another path "
                                     "or pass overwrite=True to replace it")
        html_path.parent.mkdir(parents=True, exist_ok=True)
        html_path.write_text(self.to_html(), encoding="utf-8")
        json_path.write_text(json.dumps(self.to_dict(), indent=2, allow_nan=False), encoding="utf-8")
        return html_path


_GENERATOR_TAG = '<meta name="generator" content="repalign.report">'


def _written_by_report(p: Path) -> bool:
    """Whether ``p`` is a file that :meth:`Report.save` wrote (it carries the generator mark)."""
    if not p.is_file():
        return False
    with open(p, "rb") as fh:
        head = fh.read(4096)
    return _GENERATOR_TAG.encode() in head or b'"generator": "repalign.report"' in head


def _param_cell(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v)


def _check_text(value: Any, name: str, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string; got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise ValueError(f"{name} must be a non-empty string")
    return value
