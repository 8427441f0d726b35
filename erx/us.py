"""US postal and telephone rules shared by the API's input models."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator

from erx.documented import Documented

STATES: dict[str, str] = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California",
    "CO": "Colorado", "CT": "Connecticut", "DE": "Delaware", "FL": "Florida", "GA": "Georgia",
    "HI": "Hawaii", "ID": "Idaho", "IL": "Illinois", "IN": "Indiana", "IA": "Iowa",
    "KS": "Kansas", "KY": "Kentucky", "LA": "Louisiana", "ME": "Maine", "MD": "Maryland",
    "MA": "Massachusetts", "MI": "Michigan", "MN": "Minnesota", "MS": "Mississippi",
    "MO": "Missouri", "MT": "Montana", "NE": "Nebraska", "NV": "Nevada", "NH": "New Hampshire",
    "NJ": "New Jersey", "NM": "New Mexico", "NY": "New York", "NC": "North Carolina",
    "ND": "North Dakota", "OH": "Ohio", "OK": "Oklahoma", "OR": "Oregon", "PA": "Pennsylvania",
    "RI": "Rhode Island", "SC": "South Carolina", "SD": "South Dakota", "TN": "Tennessee",
    "TX": "Texas", "UT": "Utah", "VT": "Vermont", "VA": "Virginia", "WA": "Washington",
    "WV": "West Virginia", "WI": "Wisconsin", "WY": "Wyoming",
    "DC": "District of Columbia",
    "AS": "American Samoa", "GU": "Guam", "MP": "Northern Mariana Islands",
    "PR": "Puerto Rico", "VI": "U.S. Virgin Islands",
}  # fmt: skip

# [0-9], not \d: \d also matches other scripts' digits (Arabic-Indic, Devanagari, ...).
_ZIP = re.compile(r"[0-9]{5}(-[0-9]{4})?")
_PHONE_PUNCTUATION = re.compile(r"[\s().\-]")
_E164_US = re.compile(r"\+1([0-9]{10})")


def refuse_non_ascii_digits(value: str) -> str:
    """Refuse digits of other scripts, which Python's int() and \\d would take as 0-9."""
    if any(c.isdigit() and not c.isascii() for c in value):
        raise ValueError("digits must be ASCII 0-9")
    return value


def check_state(value: str) -> str:
    code = value.strip().upper()
    if code not in STATES:
        raise ValueError(f"{value!r} is not a US state, DC or US territory code")
    return code


def check_zip(value: str) -> str:
    code = refuse_non_ascii_digits(value.strip())
    if not _ZIP.fullmatch(code):
        raise ValueError("must be a 5-digit ZIP code or ZIP+4 (12345 or 12345-6789)")
    return code


def check_us_phone(value: str) -> str:
    """Accept +1 followed by a valid NANP number; return it as +1NXXNXXXXXX."""
    compact = _PHONE_PUNCTUATION.sub("", refuse_non_ascii_digits(value))
    match = _E164_US.fullmatch(compact)
    if not match:
        raise ValueError("must be a US phone number: +1 followed by 10 digits")
    digits = match.group(1)
    area, exchange = digits[:3], digits[3:6]
    if area[0] in "01":
        raise ValueError(f"area code {area} is not valid: US area codes cannot start with 0 or 1")
    if area == "555":
        raise ValueError("area code 555 is not a real area code")
    if area[1:] == "11":
        raise ValueError(f"area code {area} is a service code, not an area code")
    if exchange[0] in "01":
        raise ValueError(f"exchange {exchange} is not valid: it cannot start with 0 or 1")
    if re.search(r"([0-9])\1{6}", digits):
        raise ValueError("must not contain 7 or more repeated digits")
    return "+1" + digits


def dosespot_phone(e164: str) -> str:
    """DoseSpot takes 10 digits without the country code."""
    return e164.removeprefix("+1")


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


UsState = Annotated[
    str, AfterValidator(check_state), Documented(enum=tuple(sorted(STATES)), examples=("NY",))
]
ZipCode = Annotated[
    str,
    AfterValidator(check_zip),
    Documented(pattern=r"^[0-9]{5}(-[0-9]{4})?$", examples=("10001", "10001-2062")),
]
# The usual ways of writing a number; the validator also takes other punctuation and refuses
# what a pattern cannot say (N11 and 555 area codes, seven repeated digits).
UsPhone = Annotated[
    str,
    AfterValidator(check_us_phone),
    Documented(
        pattern=r"^\+1[ .-]?\(?[2-9][0-9]{2}\)?[ .-]?[2-9][0-9]{2}[ .-]?[0-9]{4}$",
        examples=("+1 212 736 5000", "+12127365000"),
    ),
]
Trimmed = BeforeValidator(_strip)
