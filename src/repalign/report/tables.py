"""Numbers as people read them: intervals, rounding that the interval supports, pivots.

* :class:`Interval` is a table cell ``mean [lo, hi]``; in HTML it is rounded to the precision
  its interval supports (:func:`decimals_for`), in report.json it stays exact
  (``{"mean": ..., "lo": ..., "hi": ...}``).
* :func:`pivot` turns a long tidy table (one row per group pair and stage, say) into a
  matrix: one row per ``index`` value, one column per ``columns`` value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
import html
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from .._serialize import is_dataframe


def decimals_for(width: float, min_decimals: int = 0, max_decimals: int = 6) -> int:
    """Decimal places that show an interval of full ``width`` to two significant digits
    (0.0439 -> 3, 0.43 -> 2, 4.3 -> 1, 43 -> 0)."""
    if not (isinstance(width, (int, float)) and math.isfinite(width)) or width <= 0:
        raise ValueError(f"width must be a positive finite number; got {width!r}")
    d = 1 - math.floor(math.log10(width))
    return int(min(max(d, min_decimals), max_decimals))


def fmt_number(x: Any, sig: int = 3) -> str:
    """A number with ``sig`` significant digits (no exponent between 1e-3 and 1e5)."""
    if x is None:
        return ""
    x = float(x)
    if not math.isfinite(x):
        return "n/a" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if x == 0:
        return "0"
    if 1e-3 <= abs(x) < 1e5:
        d = max(0, sig - 1 - math.floor(math.log10(abs(x))))
        return f"{x:.{d}f}"
    return f"{x:.{sig - 1}e}"


def span(values: Iterable[Any], spec: str = ".2f", sep: str = " to ") -> str:
    """``"lo to hi"`` of the values that are not None, formatted with ``spec``; one value when
    both ends format the same; ``"n/a"`` when there are none."""
    v = [float(x) for x in values if x is not None and math.isfinite(float(x))]
    if not v:
        return "n/a"
    lo, hi = format(min(v), spec), format(max(v), spec)
    return lo if lo == hi else f"{lo}{sep}{hi}"


@dataclass(frozen=True)
class Interval:
    """A value with an interval, shown as ``mean [lo, hi]``; ``lo``/``hi`` may be None
    (then only the mean is shown: to ``decimals`` places when given, else to 3 significant
    digits)."""

    mean: float
    lo: float | None = None
    hi: float | None = None
    decimals: int | None = None

    def __post_init__(self) -> None:
        for name in ("mean", "lo", "hi"):
            v = getattr(self, name)
            if v is not None and not isinstance(v, (int, float)):
                raise ValueError(f"{name} must be a number or None; got {type(v).__name__}")

    @classmethod
    def from_sem(cls, mean: float, sem: float | None, z: float = 1.0, decimals: int | None = None) -> "Interval":
        """``mean ± z·sem`` (no interval when ``sem`` is None or not finite)."""
        if sem is None or not math.isfinite(float(sem)):
            return cls(float(mean), decimals=decimals)
        return cls(float(mean), float(mean) - z * float(sem), float(mean) + z * float(sem), decimals)

    def has_interval(self) -> bool:
        return all(v is not None and math.isfinite(v) for v in (self.lo, self.hi))

    def __str__(self) -> str:
        if self.mean is None or not math.isfinite(self.mean):
            return "n/a"
        if not self.has_interval():
            if self.decimals is None:
                return fmt_number(self.mean)
            text = f"{self.mean:.{self.decimals}f}"
            return text[1:] if float(text) == 0 and text.startswith("-") else text
        width = float(self.hi) - float(self.lo)
        if width <= 0:
            return f"{fmt_number(self.mean)} [{fmt_number(self.lo)}, {fmt_number(self.hi)}]"
        d = decimals_for(width)
        return f"{self.mean:.{d}f} [{self.lo:.{d}f}, {self.hi:.{d}f}]"

    def to_dict(self) -> dict[str, float | None]:
        return {"mean": self.mean, "lo": self.lo, "hi": self.hi}


def pivot(rows: Iterable[Mapping[str, Any]], index: str | Sequence[str], columns: str, value: str | Callable,
          column_label: Callable[[Any], str] = str) -> list[dict[str, Any]]:
    """Long rows -> one dict per distinct ``index`` value (in first-seen order) with one key
    per distinct ``columns`` value (``column_label(v)``), holding ``row[value]`` (or
    ``value(row)``). Missing combinations are None; a repeated combination is an error."""
    index = [index] if isinstance(index, str) else list(index)
    get = value if callable(value) else (lambda r: r[value])
    rows = list(rows)
    for i, r in enumerate(rows):
        missing = [k for k in [*index, columns] if k not in r]
        if missing:
            raise ValueError(f"rows[{i}] has no key(s) {missing}")
    cols = list(dict.fromkeys(r[columns] for r in rows))
    out: dict[tuple, dict[str, Any]] = {}
    for r in rows:
        key = tuple(r[k] for k in index)
        row = out.setdefault(key, {**{k: r[k] for k in index}, **{column_label(c): None for c in cols}})
        label = column_label(r[columns])
        if row[label] is not None:
            raise ValueError(f"pivot: two rows for {dict(zip(index, key))} and {columns} = {r[columns]!r}")
        row[label] = get(r)
    return list(out.values())


# ---------------------------------------------------------------------------- HTML tables
def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, (float, np.floating)):
        return fmt_number(v)
    if isinstance(v, np.ndarray):
        return np.array2string(v, precision=3, threshold=20)
    return str(v)


def _numeric(v: Any) -> bool:
    return (isinstance(v, (int, float, np.number)) and not isinstance(v, (bool, np.bool_))) or isinstance(v, Interval)


def table_rows(data: Any, header: Any) -> tuple[list[str] | None, list[list[Any]]]:
    """Normalise a table source to (column names or None, rows)."""
    if is_dataframe(data):
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


def table_html(cols: list[str] | None, rows: list[list[Any]], caption: str | None) -> str:
    """A table inside a box that scrolls sideways when the table is wider than the page."""
    parts = [f'<p class="tcap">{html.escape(caption)}</p>' if caption else "", '<div class="tablewrap"><table>']
    if cols is not None:
        parts.append("<thead><tr>" + "".join(f'<th class="s">{html.escape(c)}</th>' for c in cols) + "</tr></thead>")
    body = []
    for r in rows:
        cells = []
        for v in r:
            cls = "" if _numeric(v) else ' class="s"'
            cells.append(f"<td{cls}>{html.escape(_cell(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("<tbody>" + "".join(body) + "</tbody></table></div>")
    return "".join(parts)
