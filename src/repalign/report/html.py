"""The :class:`Report` builder: one self-contained HTML file plus its JSON twin.

Self-contained means the HTML needs nothing else to display: the style sheet is inline,
there is no JavaScript, figures are ``<img src="data:image/png;base64,...">`` and the only
links are in-page anchors (``href="#sec-2"``). Every piece of user text (titles, captions,
table cells, parameters, JSON blocks) goes through :func:`html.escape`, so text such as
``<script>`` is shown, never run.

How a report reads (headline first)
-----------------------------------
1. the title, then a **contents** panel: one line per section, its title as a link and
   its finding;
2. a **run summary** (:meth:`Report.summary`: versions, seeds, wall time, what was reused);
3. the sections. Each is ``<section id="sec-N"><h2>title</h2><p class="finding">...``: the
   first element after the heading is the finding (result, key number, interval, verdict),
   then text, tables and figures, and at the end, collapsed, the section's parameters
   (``<details class="params">``) and raw JSON (``<details class="json">``);
4. the run parameters (collapsed) and the software versions.

The section API
---------------
::

    rep = Report("My study")
    rep.summary({"seeds": [0, 1], "wall time": "12.3 s", "reused": "nothing"})
    rep.section("Transfer",
                finding="The new task reuses the pretrained subspace in 7 of 8 networks "
                        "(fraction 0.42 [0.38, 0.47] vs null 0.21; p = 0.001): signal.",
                params={"seeds": [0, 1], "hidden": 48},      # -> collapsed <details> at the end
                data=results_dict)                          # -> report.json data["transfer"] + collapsed JSON
    rep.text("What was done, in words.")
    rep.table(rows, caption="...")                          # wide tables scroll in their own box
    rep.figure(fig_or_png_path, caption="...", data={...})  # data behind the figure -> report.json figures
    rep.json("extra", obj)                                  # more raw JSON, collapsed, end of the section
    rep.save("out/")                                        # out/report.html + out/report.json

``finding`` should always be given (the tests of the demo and of ``repalign report`` check
that every section has one); it may also be set later with :meth:`Report.finding` once the
numbers are known. A section without one still renders (for older callers) and
:meth:`Report.missing_findings` lists it. Numbers with intervals go in tables as
:class:`~repalign.report.tables.Interval` cells (``mean [lo, hi]``, rounded to what the
interval supports); long tidy tables are pivoted with :func:`~repalign.report.tables.pivot`.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .._serialize import to_jsonable, versions
from .tables import table_html as _table_html
from .tables import table_rows as _table_rows

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

_CSS = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;max-width:1100px;
margin:1.5em auto;padding:0 1em;color:#222;line-height:1.45;overflow-wrap:break-word}
h1{border-bottom:2px solid #444;padding-bottom:.2em;font-size:1.7em}
h2{border-bottom:1px solid #bbb;padding-bottom:.15em;margin-top:2em}
p.finding{background:#eef5fb;border-left:4px solid #0072B2;padding:.5em .8em;margin:.6em 0 1em}
p.finding.none{background:#fdf2e9;border-left-color:#D55E00;font-style:italic}
nav.contents{background:#fafafa;border:1px solid #ddd;padding:.4em 1em .8em}
nav.contents h2{margin-top:.4em;border:0}
nav.contents ol{padding-left:1.4em}
nav.contents li{margin:.5em 0}
nav.contents li p.finding{margin:.2em 0;padding:.2em .6em;font-size:.92em}
.tablewrap{max-width:100%;overflow-x:auto;margin:.8em 0}
table{border-collapse:collapse;font-size:.92em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right;white-space:nowrap}
th{background:#f0f0f0}
td.s,th.s{text-align:left;white-space:normal;min-width:4em}
p.tcap{font-style:italic;margin:1em 0 -.4em;font-size:.95em}
figure{margin:1em 0}
figure img{max-width:100%;height:auto;border:1px solid #ddd}
figcaption{font-style:italic;font-size:.92em}
details{margin:.6em 0;border:1px solid #e2e2e2;padding:.3em .6em;background:#fcfcfc}
summary{cursor:pointer;color:#333}
pre{background:#f7f7f7;border:1px solid #ddd;padding:.6em;overflow:auto;font-size:.85em;max-height:40em}
code{background:#f2f2f2;padding:0 .2em;overflow-wrap:anywhere}
.plain{white-space:pre-wrap}
.meta{font-size:.85em;color:#555}
"""


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


# ---------------------------------------------------------------------------- report
@dataclasses.dataclass
class _Section:
    title: str
    finding: str | None
    blocks: list[str] = dataclasses.field(default_factory=list)
    tail: list[str] = dataclasses.field(default_factory=list)  # collapsed details, rendered last
    params: dict | None = None


class Report:
    """A report built section by section and written as one self-contained HTML file.

    See the module docstring for the layout and the section API.

    Parameters
    ----------
    title : str

    Examples
    --------
    >>> rep = Report("Transfer study")
    >>> rep.params({"seeds": 5})
    >>> rep.section("Variance explained", finding="The new task lives inside the pretraining "
    ...             "subspace: fraction 0.93 [0.90, 0.95], p = 0.002 (signal).", params={"k": 10})
    >>> rep.table({"fraction": 0.93, "p": 0.002}, caption="Random-basis null")
    >>> rep.json("cross_variance", {"cross": [0.5, 0.9]})
    >>> path = rep.save("out/")      # out/report.html and out/report.json
    """

    def __init__(self, title: str) -> None:
        self.title = _check_text(title, "title")
        self.created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.versions = versions()
        self._params: dict[str, Any] = {}
        self._summary: dict[str, Any] = {}
        self._preamble: list[str] = []
        self._sections: list[_Section] = []
        self._data: dict[str, Any] = {}
        self._tables: list[dict[str, Any]] = []
        self._figures: list[dict[str, Any]] = []

    # -- content --------------------------------------------------------------------
    def section(self, title: str, finding: str | None = None, *, params: dict | None = None,
                data: Any = None, data_name: str | None = None) -> "Report":
        """Start a section (``<h2>``, listed with its finding in the contents panel).

        Parameters
        ----------
        title : str
        finding : str
            One or two sentences: the result with its key number, interval and verdict. Shown
            first, under the heading, and in the contents panel.
        params : dict, optional
            The section's parameters: a name/value table in a collapsed ``<details>`` at
            the end of the section (and in report.json ``section_params``).
        data : optional
            Raw results: stored in report.json ``data[data_name]`` (default name: the title
            in lower case with ``_`` for other characters) and shown as collapsed JSON at the
            end of the section.
        """
        title = _check_text(title, "title")
        if finding is not None:
            finding = _check_text(finding, "finding")
        self._sections.append(_Section(title, finding))
        if params is not None:
            if not isinstance(params, dict):
                raise ValueError(f"params must be a dict; got {type(params).__name__}")
            rows = [[k, _param_cell(v)] for k, v in to_jsonable(params, "params").items()]
            self._current.tail.insert(0, '<details class="params"><summary>Parameters</summary>'
                                      + _table_html(["parameter", "value"], rows, None) + "</details>")
            self._current.params = to_jsonable(params, "params")
        if data is not None:
            self.json(data_name or _slug(title), data)
        return self

    def finding(self, text: str) -> "Report":
        """Set (or replace) the current section's finding."""
        self._current.finding = _check_text(text, "finding")
        return self

    def summary(self, rows: dict) -> "Report":
        """Run-summary rows (name -> value; merged over calls), shown at the top under the
        contents: e.g. versions, seeds, wall time, what was reused."""
        if not isinstance(rows, dict):
            raise ValueError(f"rows must be a dict; got {type(rows).__name__}")
        self._summary.update(to_jsonable(rows, "summary"))
        return self

    def text(self, text: str, markdown: bool = True) -> "Report":
        """Add text. With ``markdown=True``: blank-line paragraphs, ``- `` lists,
        ``**bold**`` and ```code```; otherwise shown as is (line breaks kept)."""
        text = _check_text(text, "text", allow_empty=True)
        self._blocks.append(_markdownish(text) if markdown else f'<p class="plain">{html.escape(text)}</p>')
        return self

    def table(self, rows: Any, caption: str | None = None, header: Any = None) -> "Report":
        """Add a table (in a box that scrolls sideways when wide); its values also go to the
        JSON (``tables``).

        Parameters
        ----------
        rows : DataFrame, dict, list of dicts, or list of row sequences
            A dict of scalars is shown as name/value rows; a dict of equal-length lists
            as columns. A non-default DataFrame index becomes a column. Floats show 3
            significant digits; :class:`~repalign.report.tables.Interval` cells show
            ``mean [lo, hi]`` rounded to what the interval supports (exact in the JSON).
        caption : str, optional
        header : sequence of str, optional
            Column names for a list of row sequences.
        """
        cols, body = _table_rows(rows, header)
        caption = None if caption is None else _check_text(caption, "caption", allow_empty=True)
        self._blocks.append(_table_html(cols, body, caption))
        self._tables.append({
            "section": self._sections[-1].title if self._sections else None,
            "caption": caption,
            "columns": cols,
            "rows": to_jsonable(body, "rows"),
        })
        return self

    def figure(self, fig: Any, caption: str | None = None, dpi: int = 110, data: Any = None) -> "Report":
        """Embed a figure as a base64 PNG.

        Parameters
        ----------
        fig : matplotlib Figure, PNG bytes, or path to a PNG file
            For a path, SVG/PDF files with the same stem (written by
            :func:`~repalign.report.figstyle.save_figure`) are listed in report.json.
        caption : str, optional
        dpi : int
            Resolution used to render a Figure.
        data : optional
            The numbers drawn, stored in report.json ``figures[i]["data"]``.
        """
        png = _png_bytes(fig, dpi)
        caption = None if caption is None else _check_text(caption, "caption", allow_empty=True)
        n = len(self._figures) + 1
        files = []
        if isinstance(fig, (str, Path)):
            files = [str(Path(fig).with_suffix(f".{f}")) for f in ("png", "svg", "pdf")
                     if Path(fig).with_suffix(f".{f}").is_file()]
        self._figures.append({"id": f"fig-{n}", "section": self._sections[-1].title if self._sections else None,
                              "caption": caption, "files": files, "data": to_jsonable(data, f"figure {n} data")})
        alt = html.escape(caption or f"figure {n}")
        cap = f"<figcaption>Figure {n}. {html.escape(caption)}</figcaption>" if caption else ""
        src = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        self._blocks.append(f'<figure id="fig-{n}"><img src="{src}" alt="{alt}">{cap}</figure>')
        return self

    def json(self, name: str, obj: Any) -> "Report":
        """Store ``obj`` under ``name`` in the JSON (``data``) and show it, collapsed, at the
        end of the current section."""
        name = _check_text(name, "name")
        if name in self._data:
            raise ValueError(f"name {name!r} is already used by another json block")
        self._data[name] = to_jsonable(obj, name)
        text = json.dumps(self._data[name], indent=1, allow_nan=False)
        block = (f'<details class="json"><summary>{html.escape(name)} (raw JSON, also in report.json)</summary>'
                 f"<pre>{html.escape(text)}</pre></details>")
        (self._current.tail if self._sections else self._preamble).append(block)
        return self

    def params(self, params: dict) -> "Report":
        """Record run parameters (merged over earlier calls); shown collapsed near the end
        and stored in the JSON (``params``)."""
        if not isinstance(params, dict):
            raise ValueError(f"params must be a dict; got {type(params).__name__}")
        self._params.update(to_jsonable(params, "params"))
        return self

    def missing_findings(self) -> list[str]:
        """Titles of sections that have no finding."""
        return [s.title for s in self._sections if not s.finding]

    @property
    def _current(self) -> _Section:
        if not self._sections:
            raise ValueError("no section yet: call section(title, finding=...) first")
        return self._sections[-1]

    @property
    def _blocks(self) -> list[str]:
        return self._sections[-1].blocks if self._sections else self._preamble

    # -- output ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The JSON document: generator, title, created, versions, summary, params, sections,
        findings, section_params, tables, figures, data."""
        return {
            "generator": "repalign.report",
            "title": self.title,
            "created": self.created,
            "versions": dict(self.versions),
            "summary": dict(self._summary),
            "params": dict(self._params),
            "sections": [s.title for s in self._sections],
            "findings": {s.title: s.finding for s in self._sections},
            "section_params": {s.title: s.params for s in self._sections if s.params is not None},
            "tables": list(self._tables),
            "figures": list(self._figures),
            "data": dict(self._data),
        }

    def to_html(self) -> str:
        """The whole document as one HTML string."""
        head = (
            f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">{_GENERATOR_TAG}'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(self.title)}</title><style>{_CSS}</style></head><body>"
        )
        parts = [head, f"<h1>{html.escape(self.title)}</h1>",
                 f'<p class="meta">Generated {html.escape(self.created)} (UTC)</p>']
        parts.append(self._contents_html())
        if self._summary:
            rows = [[k, _param_cell(v)] for k, v in self._summary.items()]
            parts.append('<section id="summary"><h2>Run summary</h2>'
                         + _table_html(["", "value"], rows, None) + "</section>")
        parts.extend(self._preamble)
        for i, s in enumerate(self._sections, 1):
            parts.append(f'<section id="sec-{i}"><h2>{html.escape(s.title)}</h2>{_finding_html(s.finding)}')
            parts.extend(s.blocks)
            parts.extend(s.tail)
            parts.append("</section>")
        if self._params:
            rows = [[k, _param_cell(v)] for k, v in self._params.items()]
            parts.append('<section id="parameters"><h2>Parameters</h2><details class="params"><summary>'
                         "Every parameter of this run</summary>"
                         + _table_html(["parameter", "value"], rows, None) + "</details></section>")
        meta = _table_html(["software", "version"], [[k, v] for k, v in self.versions.items()], None)
        parts.append(f'<footer class="meta" id="environment"><h2>Environment</h2>{meta}</footer></body></html>')
        return "\n".join(parts)

    def _contents_html(self) -> str:
        items = []
        if self._summary:
            items.append('<li><a href="#summary">Run summary</a></li>')
        for i, s in enumerate(self._sections, 1):
            items.append(f'<li><a href="#sec-{i}">{html.escape(s.title)}</a>{_finding_html(s.finding)}</li>')
        if self._params:
            items.append('<li><a href="#parameters">Parameters</a></li>')
        items.append('<li><a href="#environment">Environment</a></li>')
        return f'<nav class="contents" id="contents"><h2>Contents</h2><ol>{"".join(items)}</ol></nav>'

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


def _finding_html(finding: str | None) -> str:
    if not finding:
        return '<p class="finding none">No finding stated for this section.</p>'
    return f'<p class="finding">{_inline(html.escape(finding))}</p>'


def _slug(title: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", title.lower()).strip("_") or "section"


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
