"""Billing periods: period n starts n months after the verification date.

The day of month always comes from the original anchor, clamped to the month's
length, so a clinician verified on Jan 31 is billed on Feb 28 (29 in leap years),
Mar 31, Apr 30, ... and never drifts to the 28th for good.
"""

from __future__ import annotations

from calendar import monthrange
from datetime import UTC, date, datetime, time


def period_start(anchor: date, period: int) -> date:
    """The first day of billing period ``period`` (0 is the verification date)."""
    if period < 0:
        raise ValueError("period must not be negative")
    years, month_index = divmod(anchor.month - 1 + period, 12)
    year = anchor.year + years
    month = month_index + 1
    return date(year, month, min(anchor.day, monthrange(year, month)[1]))


def period_containing(anchor: date, day: date) -> int:
    """The period that ``day`` falls in; days before the anchor belong to period 0."""
    if day <= anchor:
        return 0
    period = (day.year - anchor.year) * 12 + day.month - anchor.month
    if period_start(anchor, period) > day:
        period -= 1
    return period


def start_of_day(day: date) -> datetime:
    """Charges fall due at midnight UTC of the period's first day."""
    return datetime.combine(day, time(), tzinfo=UTC)
