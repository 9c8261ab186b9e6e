"""Imports every table module, so SQLModel.metadata (and Alembic) sees the whole schema."""

from smartcity.models.calendar import tables as calendar_tables  # noqa: F401
from smartcity.models.core import tables  # noqa: F401
from smartcity.models.deadlines import tables as deadline_tables  # noqa: F401
from smartcity.models.evaluation import tables as evaluation_tables  # noqa: F401
from smartcity.models.quickwins import tables as quickwin_tables  # noqa: F401
from smartcity.models.reviews import tables as review_tables  # noqa: F401
from smartcity.models.selection import tables as indicator_tables  # noqa: F401
