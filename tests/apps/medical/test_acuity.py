"""ICD-10-CM acuity floors: the most specific row wins; later encounters and adverse effects impose none."""
from __future__ import annotations

import pytest

from apps.medical.verification.acuity import ACUITY, acuity_floor, code_key, is_minor


@pytest.mark.parametrize("code, worst", [
    ("G00.9", 2), ("G03.9", 2), ("I21.19", 2), ("I2119", 2), ("I46.9", 1), ("A41.9", 2), ("R65.21", 1),
    ("S06.0X0A", 3), ("S06.5X0A", 2), ("T40.1X1A", 2), ("T43.222A", 2), ("K92.2", 2), ("T31.20", 2),
    ("I48.91", 3), ("G40.911", 1), ("O00.101", 2), ("N44.00", 2), ("J45.52", 2),
])
def test_floors(code, worst):
    assert acuity_floor(code).worst_esi == worst


@pytest.mark.parametrize("code", ["R07.9", "J06.9", "S93.401A", "T38.0X5A", "S06.5X0S", "S06.5X0D", "T40.1X6A", "J45.41",
                                  "Z76.0"])
def test_no_floor(code):
    assert acuity_floor(code) is None


def test_every_row_is_a_real_icd_10_cm_entry():
    import simple_icd_10_cm as icd

    for row in ACUITY:
        for code in {row.first, row.last}:
            assert icd.is_valid_item(code) or icd.is_valid_item(code_key(code)), row


def test_minor():
    assert is_minor("J06.9") and is_minor("S93.401A") and not is_minor("I21.9")
