"""Self-contained HTML reports with a machine-readable JSON twin.

:class:`Report` collects sections, text, tables, figures (embedded as base64 PNG), JSON
blocks and parameters, stamps the software versions and the time, and writes
``report.html`` (no external CSS, JS or images; all user text escaped) next to
``report.json`` (every number shown in a table or ``.json`` block, NaN as ``null``).
"""

from .html import Report, to_jsonable

__all__ = ["Report", "to_jsonable"]
