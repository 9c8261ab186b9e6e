"""What is wrong with a date or date-time a coordinator typed, said in one phrase for the error line."""

from __future__ import annotations

import re
from datetime import date

_DATE_PREFIX = re.compile(r"\s*(\d{4}-\d{2}-\d{2})(?:$|[T ])")


def no_such_day(text: str) -> str | None:
    """'2027-02-30 is not a date (no such day in the calendar)' when `text` starts with an impossible day."""
    found = _DATE_PREFIX.match(text)
    if found is None:
        return None
    try:
        date.fromisoformat(found.group(1))
    except ValueError:
        return f"{found.group(1)} is not a date (no such day in the calendar)"
    return None
