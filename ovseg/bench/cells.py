"""How the report writes one figure in a table cell."""

from __future__ import annotations

import math


def cell(value, digits: int = 2) -> str:
    """``value`` with ``digits`` decimals when it is a float, as is otherwise; "—" for None or NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)
