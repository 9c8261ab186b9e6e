"""Money as Indonesians write it: `Rp 750.000.000` (dots group thousands, a comma starts the decimals)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal


def rupiah(amount: int | float | Decimal | None) -> str:
    """`Rp 750.000.000` for 750000000; sen only when there are any (`Rp 1.500,50`); None as '-'."""
    if amount is None:
        return "-"
    value = Decimal(str(amount)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    sign = "-" if value < 0 else ""
    whole, cents = divmod(abs(value), 1)
    grouped = f"{int(whole):,}".replace(",", ".")  # Python groups with ',': Indonesian uses '.'
    sen = f",{int(cents * 100):02d}" if cents else ""
    return f"{sign}Rp {grouped}{sen}"
