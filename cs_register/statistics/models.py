"""Daily aggregates: counts only, no row points at a person.

`DailyCount` holds one number per Helsinki day, metric and dimension (a channel, an outcome,
a reason), and for averages a `total` (days to answer, summed). `RolledUpDay` marks a day as
rolled up, so a day with nothing to count is not counted again and again.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from cs_register.db import Base


class DailyCount(Base):
    __tablename__ = "daily_counts"
    __table_args__ = (sa.UniqueConstraint("day", "metric", "dimension"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(index=True)
    metric: Mapped[str] = mapped_column(sa.String(48))
    dimension: Mapped[str] = mapped_column(sa.String(48), default="")
    count: Mapped[int] = mapped_column(sa.BigInteger)
    total: Mapped[int | None] = mapped_column(sa.BigInteger)


class RolledUpDay(Base):
    __tablename__ = "rolled_up_days"

    day: Mapped[date] = mapped_column(primary_key=True)
    rolled_up_at: Mapped[datetime]
