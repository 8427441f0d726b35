"""How an amount of money is written wherever people read one: API answers, workflow details.

``money(7800, "USD")`` is ``"$78.00"``; thousands are separated (``"$1,234.00"``); another
currency is written with its ISO code in front (``"EUR 1,234.00"``). Amounts are integer
minor units (cents), never floats. Pure and deterministic, so workflow code may import it.
"""

from __future__ import annotations

SYMBOLS = {"USD": "$"}


def money(cents: int, currency: str) -> str:
    sign = "-" if cents < 0 else ""
    whole, minor = divmod(abs(cents), 100)
    symbol = SYMBOLS.get(currency, f"{currency} ")
    return f"{sign}{symbol}{whole:,}.{minor:02d}"
