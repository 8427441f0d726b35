"""Billing period dates: anchored on the verification day, clamped to month ends."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from workflows.billing_calendar import period_containing, period_start, start_of_day


def test_the_31st_is_clamped_but_never_drifts() -> None:
    anchor = date(2027, 1, 31)
    assert [period_start(anchor, n) for n in range(14)] == [
        date(2027, 1, 31),
        date(2027, 2, 28),
        date(2027, 3, 31),
        date(2027, 4, 30),
        date(2027, 5, 31),
        date(2027, 6, 30),
        date(2027, 7, 31),
        date(2027, 8, 31),
        date(2027, 9, 30),
        date(2027, 10, 31),
        date(2027, 11, 30),
        date(2027, 12, 31),
        date(2028, 1, 31),
        date(2028, 2, 29),
    ]


@pytest.mark.parametrize(
    ("anchor", "period", "expected"),
    [
        (date(2028, 1, 29), 1, date(2028, 2, 29)),  # leap year
        (date(2027, 1, 29), 1, date(2027, 2, 28)),
        (date(2027, 1, 30), 1, date(2027, 2, 28)),
        (date(2028, 2, 29), 12, date(2029, 2, 28)),  # a leap-day anchor in a common year
        (date(2028, 2, 29), 48, date(2032, 2, 29)),
        (date(2028, 2, 29), 1, date(2028, 3, 29)),
        (date(2100, 1, 31), 1, date(2100, 2, 28)),  # centuries are not leap years
        (date(2000, 1, 31), 1, date(2000, 2, 29)),  # unless divisible by 400
        (date(2027, 12, 15), 1, date(2028, 1, 15)),
        (date(2027, 5, 31), 0, date(2027, 5, 31)),
        (date(2027, 5, 31), 120, date(2037, 5, 31)),
    ],
)
def test_period_start(anchor: date, period: int, expected: date) -> None:
    assert period_start(anchor, period) == expected


def test_negative_period_is_refused() -> None:
    with pytest.raises(ValueError):
        period_start(date(2027, 1, 31), -1)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2027, 1, 1), 0),
        (date(2027, 1, 31), 0),
        (date(2027, 2, 27), 0),
        (date(2027, 2, 28), 1),
        (date(2027, 3, 1), 1),
        (date(2027, 3, 30), 1),
        (date(2027, 3, 31), 2),
        (date(2027, 4, 29), 2),
        (date(2027, 4, 30), 3),
        (date(2028, 1, 31), 12),
        (date(2028, 2, 29), 13),
    ],
)
def test_period_containing(day: date, expected: int) -> None:
    assert period_containing(date(2027, 1, 31), day) == expected


def test_period_containing_inverts_period_start() -> None:
    for anchor in (date(2027, 1, 31), date(2028, 2, 29), date(2027, 6, 15), date(2027, 3, 30)):
        for n in range(60):
            start = period_start(anchor, n)
            assert period_containing(anchor, start) == n
            end = period_start(anchor, n + 1)
            assert period_containing(anchor, date.fromordinal(end.toordinal() - 1)) == n


def test_charges_fall_due_at_midnight_utc() -> None:
    assert start_of_day(date(2027, 2, 28)) == datetime(2027, 2, 28, tzinfo=UTC)
