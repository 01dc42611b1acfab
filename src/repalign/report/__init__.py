"""Self-contained HTML reports with a machine-readable JSON twin.

:class:`Report` collects sections (each headed by its finding), text, tables, figures
(embedded as base64 PNG), JSON blocks and parameters, stamps the software versions and the
time, and writes ``report.html`` (no external CSS, JS or images; all user text escaped)
next to ``report.json`` (every number shown in a table or ``.json`` block, NaN as ``null``).
:mod:`.tables` has :class:`Interval` and :func:`pivot`; :mod:`.figstyle` the figure style
and formats; :mod:`.studies` rebuilds one report from study output folders
(``repalign report DIR``).
"""

from .._serialize import to_jsonable
from .html import Report
from .tables import Interval, pivot

__all__ = ["Report", "to_jsonable", "Interval", "pivot"]
