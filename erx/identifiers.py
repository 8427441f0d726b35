"""Prescriber identifiers: NPI and DEA numbers, with the reasons a number is refused."""

from __future__ import annotations

import re
from datetime import date, datetime

from erx.documented import Documented
from erx.us import refuse_non_ascii_digits

# [0-9], not \d: \d and int() also take other scripts' digits (Arabic-Indic, fullwidth, ...).
_NPI = re.compile(r"^[0-9]{10}$")
_DEA = re.compile(r"^[A-Z][A-Z9][0-9]{7}$")
ADULT_AGE = 18
# A prescriber's or a proxy's date of birth, as DoseSpot takes it.
MM_DD_YYYY = Documented(pattern=r"^[0-9]{2}/[0-9]{2}/[0-9]{4}$", examples=("04/27/1980",))


def check_npi(value: str) -> str:
    """10 digits whose last is the Luhn check digit of 80840 + the first nine."""
    npi = refuse_non_ascii_digits(value.strip())
    if not _NPI.match(npi):
        raise ValueError("an NPI is exactly 10 digits")
    digits = [int(d) for d in "80840" + npi[:9]]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    if (10 - total % 10) % 10 != int(npi[9]):
        raise ValueError("the NPI check digit does not match (Luhn with the 80840 prefix)")
    return npi


def check_dea(value: str) -> str:
    """Two letters and seven digits, the last a check digit; X numbers were retired in 2023."""
    dea = refuse_non_ascii_digits(value.strip()).upper()
    if dea.startswith("X"):
        raise ValueError(
            "DEA numbers beginning with X (DATA-waiver) were retired in 2023; "
            "use the practitioner's standard DEA number"
        )
    if not _DEA.match(dea):
        raise ValueError("a DEA number is two letters followed by seven digits, e.g. AB1234563")
    d = [int(c) for c in dea[2:]]
    check = (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10
    if check != d[6]:
        raise ValueError("the DEA number's check digit does not match")
    return dea


def check_date_of_birth(value: str, today: date | None = None) -> date:
    """MM/DD/YYYY, a real date in the past, of an adult."""
    text = refuse_non_ascii_digits(value.strip())
    if not re.fullmatch(r"[0-9]{2}/[0-9]{2}/[0-9]{4}", text):
        raise ValueError("date of birth must be MM/DD/YYYY, e.g. 04/27/1980")
    try:
        born = datetime.strptime(text, "%m/%d/%Y").date()
    except ValueError:
        raise ValueError(f"{text} is not a real date") from None
    today = today or date.today()
    if born >= today:
        raise ValueError("date of birth must be in the past")
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    if age < ADULT_AGE:
        raise ValueError(f"a prescriber must be at least {ADULT_AGE} years old")
    if age > 120:
        raise ValueError("date of birth is more than 120 years ago")
    return born
