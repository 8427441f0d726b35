"""A patient's age, date of birth and vitals: when height and weight are required, what is
plausible for a human, and the units DoseSpot takes. Pure functions, no I/O."""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from typing import Literal

HeightUnit = Literal["cm", "in"]
WeightUnit = Literal["kg", "lb"]

# Inclusive bounds wide enough for a premature newborn and the tallest and heaviest
# people on record, and no wider: a value outside is a typo or a unit mix-up.
HEIGHT_RANGES: dict[str, tuple[float, float]] = {"cm": (20.0, 250.0), "in": (8.0, 100.0)}
WEIGHT_RANGES: dict[str, tuple[float, float]] = {"kg": (0.3, 350.0), "lb": (0.66, 770.0)}

# DoseSpot's HeightMetric and WeightMetric names for our units.
DOSESPOT_HEIGHT_METRIC: dict[str, str] = {"cm": "cm", "in": "inch"}
DOSESPOT_WEIGHT_METRIC: dict[str, str] = {"kg": "kg", "lb": "lb"}

# Older than anyone on record: a date of birth before this many years is a typo.
MAX_AGE_YEARS = 125

_US_DATE = re.compile(r"([0-9]{2})/([0-9]{2})/([0-9]{4})")
_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")


def age_on(born: date, on: date) -> int:
    """Whole years completed on ``on``.

    Someone born on 29 February completes a year on 1 March in common years (their
    birthday has not come on 28 February), so they stay the younger age one day longer,
    which is the cautious side for the pediatric vitals rule.
    """
    if on < born:
        raise ValueError("the date is before the date of birth")
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def vitals_required(age: int, pediatric_max_age: int) -> bool:
    """DoseSpot needs height and weight for patients aged ``pediatric_max_age`` and under."""
    return age <= pediatric_max_age


def parse_date_of_birth(value: str | date, today: date) -> date:
    """MM/DD/YYYY (as the enrollment form takes it) or ISO YYYY-MM-DD; a real date, not
    after ``today``, not more than MAX_AGE_YEARS before it. The reasons never repeat it."""
    if isinstance(value, datetime):
        raise ValueError("date of birth is a date, not a date and time")
    if isinstance(value, date):
        born = value
    elif isinstance(value, str):
        text = value.strip()
        if us := _US_DATE.fullmatch(text):
            month, day, year = (int(part) for part in us.groups())
        elif iso := _ISO_DATE.fullmatch(text):
            year, month, day = (int(part) for part in iso.groups())
        else:
            raise ValueError("date of birth must be MM/DD/YYYY or YYYY-MM-DD, e.g. 04/27/2012")
        try:
            born = date(year, month, day)
        except ValueError:
            raise ValueError("date of birth is not a real date") from None
    else:
        raise ValueError("date of birth must be a string MM/DD/YYYY or YYYY-MM-DD")
    return check_date_of_birth(born, today)


def check_date_of_birth(born: date, today: date) -> date:
    if born > today:
        raise ValueError("date of birth must not be in the future")
    if age_on(born, today) > MAX_AGE_YEARS:
        raise ValueError(f"date of birth is more than {MAX_AGE_YEARS} years ago")
    return born


def _check_measure(
    kind: str, value: float, unit: str, ranges: dict[str, tuple[float, float]]
) -> float:
    if unit not in ranges:
        raise ValueError(f"{kind} unit must be one of {', '.join(ranges)}")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{kind} must be a number")
    low, high = ranges[unit]
    if value <= 0:
        raise ValueError(f"{kind} must be greater than zero")
    if not low <= value <= high:
        raise ValueError(f"{kind} in {unit} must be between {low:g} and {high:g}")
    return float(value)


def check_height(value: float, unit: str) -> float:
    """A human height in cm (20-250) or inches (8-100)."""
    return _check_measure("height", value, unit, HEIGHT_RANGES)


def check_weight(value: float, unit: str) -> float:
    """A human weight in kg (0.3-350) or pounds (0.66-770)."""
    return _check_measure("weight", value, unit, WEIGHT_RANGES)
