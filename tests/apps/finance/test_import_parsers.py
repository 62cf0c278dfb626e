"""Statement file parsers (no database): good files give exact values; bad files list EVERY problem by row/column."""
from __future__ import annotations

import datetime
import json
from decimal import Decimal

import pytest

from apps.finance import importers
from apps.finance.importers import ImportFailed, parse_file
from tests.apps.finance.test_companies_factories import FIXTURES


def problems(exc: ImportFailed) -> set[tuple]:
    return {(e.row, e.column) for e in exc.errors}


def refused(**kw) -> ImportFailed:
    kw.setdefault("company_currency", "USD")
    with pytest.raises(ImportFailed) as info:
        parse_file(**kw)
    return info.value


# --- CSV -------------------------------------------------------------------------------------------------
def test_good_csv_values_negatives_thousands_and_blanks():
    fmt, periods = parse_file(content=(FIXTURES / "statements_good.csv").read_bytes(), filename="s.csv",
                              company_currency="USD")
    assert fmt == "csv" and [p.fiscal_year for p in periods] == [2022, 2023, 2024]
    p2023 = periods[1]
    assert p2023.values["revenue"] == Decimal("1100000")  # "1,100,000"
    assert p2023.values["net_income"] == Decimal("-20000")  # "(20000)"
    assert p2023.values["total_equity"] == Decimal("-5000")  # negative equity is allowed
    assert p2023.period_end == datetime.date(2023, 12, 31)
    p2024 = periods[2]
    assert p2024.currency == "USD"  # blank currency = the company's
    assert p2024.values["operating_income"] is None and p2024.values["capital_expenditure"] is None
    assert "cash" not in p2024.values  # a column the file does not have is not given


def test_bad_csv_reports_every_cell():
    exc = refused(content=(FIXTURES / "statements_bad.csv").read_bytes(), filename="bad.csv")
    assert problems(exc) == {
        (1, "bogus_column"),  # unknown column
        (3, "currency"),  # EUR vs the company's USD
        (3, "revenue"),  # "abc"
        (3, "capital_expenditure"),  # negative capex
        (4, "fiscal_year"),  # duplicate 2023
        (5, "fiscal_year"),  # 1850 out of range
        (6, "period_end"),  # 2024-13-45
    }
    by_cell = {(e.row, e.column): e.message for e in exc.errors}
    assert "currency mismatch" in by_cell[(3, "currency")]
    assert "also in row 3" in by_cell[(4, "fiscal_year")]
    assert "cannot be negative" in by_cell[(3, "capital_expenditure")]
    assert exc.status == 400 and "7 problems" in exc.message


@pytest.mark.parametrize("content,needle", [
    (b"", "empty"),
    (b"   \n\n", "empty"),
    (b"fiscal_year,revenue\n", "no data rows"),
    (b"revenue,net_income\n100,10\n", "fiscal_year is missing"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not CSV or JSON"),
    (b"fiscal_year,revenue\n2023,\xff\xfe\n", "not CSV or JSON"),
    (b'{"periods": [}', "not valid JSON"),
])
def test_unreadable_files(content, needle):
    exc = refused(content=content, filename="upload.csv" if not content.startswith(b"{") else "upload.json")
    assert any(needle in e.message for e in exc.errors), exc.errors


def test_wrong_extension_is_not_csv_or_json():
    exc = refused(content=b"PK\x03\x04 spreadsheet", filename="statements.xlsx")
    assert "not CSV or JSON" in exc.errors[0].message


def test_too_large_and_too_many_rows(monkeypatch):
    monkeypatch.setattr(importers, "MAX_IMPORT_BYTES", 64)
    exc = refused(content=b"fiscal_year,revenue\n" + b"2023,1\n" * 20, filename="big.csv")
    assert "too large" in exc.errors[0].message
    monkeypatch.setattr(importers, "MAX_IMPORT_BYTES", 10_000_000)
    rows = "".join(f"{1901 + i},1\n" for i in range(importers.MAX_PERIODS + 1))
    exc = refused(content=("fiscal_year,revenue\n" + rows).encode(), filename="many.csv")
    assert "too many rows" in exc.errors[0].message


def test_row_with_wrong_cell_count_and_nan_and_future_year():
    future = datetime.date.today().year + 2
    content = f"fiscal_year,revenue,net_income\n2022,100\n2023,NaN,5\n{future},1,1\n2021,1e30,1\n".encode()
    exc = refused(content=content, filename="s.csv")
    assert problems(exc) == {(2, None), (3, "revenue"), (4, "fiscal_year"), (5, "revenue")}


# --- JSON ------------------------------------------------------------------------------------------------
def test_good_json():
    body = {"currency": "EUR", "periods": [
        {"fiscal_year": 2023, "period_end": "2023-12-31", "revenue": 1200.5, "net_income": "-10", "shares_diluted": 10},
        {"fiscal_year": 2024, "revenue": "1,300", "cash": None},
    ]}
    fmt, periods = parse_file(content=json.dumps(body).encode(), filename="s.json", company_currency="EUR")
    assert fmt == "json"
    assert [(p.fiscal_year, p.currency) for p in periods] == [(2023, "EUR"), (2024, "EUR")]
    assert periods[0].values == {"revenue": Decimal("1200.5"), "net_income": Decimal("-10"),
                                 "shares_diluted": Decimal("10")}
    assert periods[1].values == {"revenue": Decimal("1300"), "cash": None}


def test_bad_json_reports_every_field():
    body = {"currency": "USD", "extra": 1, "periods": [
        {"fiscal_year": 2023, "revenue": True, "dividends_paid": -3, "colour": "red"},
        {"fiscal_year": "20x3", "revenue": 1},
        {"fiscal_year": 2023, "revenue": 5, "currency": "GBP"},
        "not an object",
        {"fiscal_year": 2022},
    ]}
    exc = refused(content=json.dumps(body).encode(), filename="bad.json")
    assert problems(exc) == {
        (None, "extra"), (1, "revenue"), (1, "dividends_paid"), (1, "colour"), (2, "fiscal_year"),
        (3, "currency"), (3, "fiscal_year"), (4, None), (5, None),
    }


def test_json_that_is_not_an_object_or_has_no_periods():
    assert "periods" in refused(content=b"[1, 2]", filename="x.json").errors[0].message
    assert problems(refused(content=b'{"periods": {}}', filename="x.json")) == {(None, "periods")}


# --- SEC companyfacts ------------------------------------------------------------------------------------
def sec_sample() -> dict:
    return json.loads((FIXTURES / "sec_companyfacts_sample.json").read_text())


def test_sec_companyfacts_takes_annual_10k_values_of_each_fiscal_year():
    fmt, periods = parse_file(content=(FIXTURES / "sec_companyfacts_sample.json").read_bytes(),
                              filename="CIK0009999001.json", company_currency="USD")
    assert fmt == "sec"
    # 2021 appears only as a comparative inside the FY2022 10-K: there is no fy=2021 filing, so no 2021 period.
    assert [p.fiscal_year for p in periods] == [2022, 2023]
    p2022, p2023 = periods
    assert p2022.period_end == datetime.date(2022, 12, 31)
    assert p2022.values["revenue"] == Decimal("1000000000")  # the full year, not the Q4-only 270m in the same 10-K
    assert p2023.values["revenue"] == Decimal("1100000000")  # "Revenues" is preferred over the ASC 606 tag
    assert p2023.values["net_income"] == Decimal("118000000")  # the later-filed 10-K/A wins
    assert p2023.values["total_assets"] == Decimal("2150000000")  # year end, not the 10-Q or the comparative
    assert p2023.values["shares_diluted"] == Decimal("49000000")
    assert p2023.values["capital_expenditure"] == Decimal("70000000")
    assert "inventory" not in p2023.values  # not in the filing -> missing


def test_sec_companyfacts_falls_back_to_the_next_tag():
    data = sec_sample()
    del data["facts"]["us-gaap"]["Revenues"]
    _, periods = importers.parse_data(data, company_currency="USD")
    assert {p.fiscal_year: p.values.get("revenue") for p in periods} == {2022: None, 2023: Decimal("1099000000")}


def test_sec_companyfacts_refusals():
    with pytest.raises(ImportFailed) as info:
        importers.parse_data(sec_sample(), company_currency="EUR")
    assert "currency mismatch" in info.value.errors[0].message
    data = sec_sample()
    data["facts"]["us-gaap"]["PaymentsToAcquirePropertyPlantAndEquipment"]["units"]["USD"][1]["val"] = -5
    with pytest.raises(ImportFailed) as info:
        importers.parse_data(data, company_currency="USD")
    assert problems(info.value) == {(2023, "capital_expenditure (us-gaap:PaymentsToAcquirePropertyPlantAndEquipment)")}
    with pytest.raises(ImportFailed) as info:
        importers.parse_data({"facts": {"dei": {}}}, company_currency="USD")
    assert "no us-gaap facts" in info.value.errors[0].message


def test_sec_a_later_instant_does_not_move_the_fiscal_year_end():
    data = sec_sample()
    data["facts"]["us-gaap"]["LongTermDebt"]["units"]["USD"].append(
        {"end": "2024-02-10", "val": 999, "accn": "0009999001-24-000005", "fy": 2023, "fp": "FY", "form": "10-K",
         "filed": "2024-02-14"})  # a subsequent-event balance reported in the FY2023 10-K
    _, periods = importers.parse_data(data, company_currency="USD")
    p2023 = periods[-1]
    assert p2023.period_end == datetime.date(2023, 12, 31)
    assert p2023.values["total_debt"] == Decimal("450000000") and p2023.values["revenue"] == Decimal("1100000000")
