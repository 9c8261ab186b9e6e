"""Rupiah the Indonesian way: one helper for every budget the program shows."""

from __future__ import annotations

from decimal import Decimal

import pytest

from smartcity.models.core.money import rupiah


@pytest.mark.parametrize(
    "amount,text",
    [
        (750_000_000, "Rp 750.000.000"),
        (0, "Rp 0"),
        (999, "Rp 999"),
        (1_000, "Rp 1.000"),
        (2_147_483_648, "Rp 2.147.483.648"),
        (1500.5, "Rp 1.500,50"),
        (Decimal("1234567.005"), "Rp 1.234.567,01"),
        (-25_000, "-Rp 25.000"),
        (None, "-"),
    ],
)
def test_rupiah_groups_with_dots_and_decimals_with_a_comma(amount, text):
    assert rupiah(amount) == text
