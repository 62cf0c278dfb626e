"""Parsers of statement files: CSV, JSON and SEC companyfacts JSON -> validated periods.

Pure functions (no database). Every problem is collected, by row and column, and raised together
as one ImportFailed; nothing is returned half-checked. The formats are documented in README.md
("## Finance").

Row numbers: CSV rows are file lines (the header is row 1, the first data row is row 2); JSON rows
are positions in "periods" counted from 1; SEC companyfacts rows are fiscal years.
"""
from __future__ import annotations

import csv
import datetime
import io
import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from apps.core.exceptions import ApplicationError
from apps.core.parsers import JSONInputError, field_name, json_loads
from apps.finance.line_items import LINE_ITEM_KEYS, LINE_ITEMS, line_item

MAX_IMPORT_BYTES = 8 * 1024 * 1024  # SEC companyfacts of a large filer are a few MiB
MAX_PERIODS = 100
MIN_YEAR = 1900
MAX_ABS_VALUE = Decimal(10) ** 20  # the database keeps 20 integer digits
FOUR_PLACES = Decimal("0.0001")
META_COLUMNS = ("fiscal_year", "period_end", "currency")
FORMATS = ("csv", "json", "sec")
_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
_NUMBER_RE = re.compile(r"^[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d*)?([eE][+-]?\d+)?$")


@dataclass(frozen=True)
class CellError:
    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = ", ".join(p for p in (f"row {self.row}" if self.row is not None else "",
                                      f"column {self.column}" if self.column else "") if p)
        return f"{where}: {self.message}" if where else self.message

    def to_dict(self) -> dict:
        return {"row": self.row, "column": self.column, "message": self.message}


@dataclass
class ParsedPeriod:
    fiscal_year: int
    currency: str
    period_end: datetime.date | None = None
    values: dict[str, Decimal | None] = field(default_factory=dict)
    row: int | None = None


class ImportFailed(ApplicationError):
    """The file had problems; `errors` lists every one. Nothing was imported."""

    def __init__(self, errors: list[CellError]):
        self.errors = sorted(errors, key=lambda e: (e.row is not None, e.row or 0))  # file-level first, then rows
        n = len(self.errors)
        super().__init__(f"import refused: {n} problem{'s' if n != 1 else ''} found, nothing was imported",
                         field="file", code="invalid_import")


def file_too_large() -> ImportFailed:
    """The file passed MAX_IMPORT_BYTES while it streamed in (the rest of the request was not read)."""
    return ImportFailed([CellError(None, None, f"the file is too large: more than {MAX_IMPORT_BYTES} bytes")])


def max_year() -> int:
    return datetime.date.today().year + 1


# --- shared cell checks ----------------------------------------------------------------------------------
def _parse_year(raw, row, column, errors) -> int | None:
    if isinstance(raw, bool) or raw is None or (isinstance(raw, str) and not raw.strip()):
        errors.append(CellError(row, column, "fiscal year is required"))
        return None
    try:
        year = int(raw.strip()) if isinstance(raw, str) else raw
        if isinstance(year, float) and year.is_integer():
            year = int(year)
        if not isinstance(year, int):
            raise ValueError
    except ValueError:
        errors.append(CellError(row, column, f"fiscal year {str(raw)[:20]!r} is not a whole number"))
        return None
    if not MIN_YEAR <= year <= max_year():
        errors.append(CellError(row, column, f"fiscal year {year} is out of range ({MIN_YEAR}-{max_year()})"))
        return None
    return year


def _parse_date(raw, row, column, year, errors) -> datetime.date | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    try:
        value = datetime.date.fromisoformat(str(raw).strip())
    except ValueError:
        errors.append(CellError(row, column, f"period end {str(raw)[:20]!r} is not a date (YYYY-MM-DD)"))
        return None
    if year is not None and value.year not in (year, year + 1):
        errors.append(CellError(row, column, f"period end {value} does not fall in fiscal year {year} "
                                             f"(its year must be {year} or {year + 1})"))
    return value


def _parse_currency(raw, row, column, company_currency, errors) -> str:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return company_currency
    value = str(raw).strip().upper()
    if not _CURRENCY_RE.match(value):
        errors.append(CellError(row, column, f"currency {str(raw)[:10]!r} is not a 3-letter ISO code"))
    elif value != company_currency:
        errors.append(CellError(row, column, f"currency mismatch: {value} but the company reports in "
                                             f"{company_currency}"))
    return value


def parse_amount(raw, key: str) -> tuple[Decimal | None, str | None]:
    """(value, None) or (None, problem). Blank/None is a missing item. Accepts 1234.5, 1,234.5, (12) for -12."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None, None
    if isinstance(raw, bool):
        return None, f"{raw!r} is not a number"
    if isinstance(raw, Decimal):
        text = str(raw)
    elif isinstance(raw, int | float):
        text = repr(raw)
    elif isinstance(raw, str):
        text = raw.strip()
    else:
        return None, f"a {type(raw).__name__} is not a number"
    negative = text.startswith("(") and text.endswith(")")
    if negative:
        text = text[1:-1].strip()
    if not _NUMBER_RE.match(text):
        return None, f"{str(raw)[:30]!r} is not a number"
    try:
        value = Decimal(text.replace(",", ""))
    except InvalidOperation:
        return None, f"{str(raw)[:30]!r} is not a number"
    if not value.is_finite():
        return None, f"{str(raw)[:30]!r} is not a finite number"
    value = -value if negative else value
    if abs(value) >= MAX_ABS_VALUE:
        return None, f"{str(raw)[:30]!r} is too large (at most 20 integer digits)"
    if value < 0 and not line_item(key).may_be_negative:
        return None, f"{line_item(key).label.lower()} cannot be negative ({str(raw)[:30]})"
    return value.quantize(FOUR_PLACES, rounding=ROUND_HALF_EVEN), None


def _check_duplicates(periods: list[ParsedPeriod], column: str, errors: list[CellError]) -> None:
    seen: dict[int, int | None] = {}
    for p in periods:
        if p.fiscal_year in seen:
            errors.append(CellError(p.row, column, f"duplicate fiscal year {p.fiscal_year} "
                                                   f"(also in row {seen[p.fiscal_year]})"))
        else:
            seen[p.fiscal_year] = p.row


# --- CSV -------------------------------------------------------------------------------------------------
def parse_csv(text: str, *, company_currency: str) -> list[ParsedPeriod]:
    """One row per fiscal year: fiscal_year (required), period_end, currency and line-item keys as columns."""
    errors: list[CellError] = []
    if not text.strip():
        raise ImportFailed([CellError(None, None, "the file is empty")])
    try:
        rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    except csv.Error as exc:
        raise ImportFailed([CellError(None, None, f"not a readable CSV file: {exc}")]) from None
    header = [h.strip() for h in rows[0]]
    known = set(META_COLUMNS) | set(LINE_ITEM_KEYS)
    for i, name in enumerate(header):
        if not name:
            errors.append(CellError(1, f"#{i + 1}", "empty column name"))
        elif name not in known:
            errors.append(CellError(1, name, "unknown column (expected fiscal_year, period_end, currency or a "
                                             "line item key)"))
        elif header.index(name) != i:
            errors.append(CellError(1, name, "column appears twice"))
    if "fiscal_year" not in header:
        errors.append(CellError(1, "fiscal_year", "the required column fiscal_year is missing"))
    items = [k for k in header if k in LINE_ITEM_KEYS]
    if not items:
        errors.append(CellError(1, None, "no line item columns (e.g. revenue, net_income)"))
    data = [(n, r) for n, r in enumerate(rows[1:], start=2) if any(c.strip() for c in r)]
    if not data:
        errors.append(CellError(None, None, "the file has a header but no data rows"))
    if len(data) > MAX_PERIODS:
        errors.append(CellError(None, None, f"too many rows: {len(data)} (at most {MAX_PERIODS})"))
        raise ImportFailed(errors)
    if "fiscal_year" not in header:
        raise ImportFailed(errors)
    periods: list[ParsedPeriod] = []
    for n, raw in data:
        if len(raw) != len(header):
            errors.append(CellError(n, None, f"{len(raw)} cells but the header has {len(header)} columns"))
            continue
        cells = dict(zip(header, raw, strict=True))
        year = _parse_year(cells.get("fiscal_year"), n, "fiscal_year", errors)
        period_end = _parse_date(cells.get("period_end"), n, "period_end", year, errors)
        currency = _parse_currency(cells.get("currency"), n, "currency", company_currency, errors)
        values: dict[str, Decimal | None] = {}
        for key in items:
            value, problem = parse_amount(cells[key], key)
            if problem:
                errors.append(CellError(n, key, problem))
            values[key] = value
        if year is not None:
            periods.append(ParsedPeriod(year, currency, period_end, values, row=n))
    _check_duplicates(periods, "fiscal_year", errors)
    if errors:
        raise ImportFailed(errors)
    return periods


# --- JSON ------------------------------------------------------------------------------------------------
def parse_json(data, *, company_currency: str) -> list[ParsedPeriod]:
    """{"currency": "USD", "periods": [{"fiscal_year": 2024, "period_end": "2024-12-31", "revenue": 1200, ...}]}"""
    errors: list[CellError] = []
    if not isinstance(data, dict):
        raise ImportFailed([CellError(None, None, "expected a JSON object with a \"periods\" list")])
    for key in sorted(set(data) - {"currency", "periods", "company"}):
        errors.append(CellError(None, key, "unknown top-level field (expected currency, periods, company)"))
    default_currency = company_currency
    if "currency" in data:
        default_currency = _parse_currency(data["currency"], None, "currency", company_currency, errors)
    raw_periods = data.get("periods")
    if not isinstance(raw_periods, list):
        errors.append(CellError(None, "periods", "\"periods\" must be a list of objects"))
        raise ImportFailed(errors)
    if not raw_periods:
        errors.append(CellError(None, "periods", "\"periods\" is empty"))
    if len(raw_periods) > MAX_PERIODS:
        errors.append(CellError(None, "periods", f"too many periods: {len(raw_periods)} (at most {MAX_PERIODS})"))
        raise ImportFailed(errors)
    periods: list[ParsedPeriod] = []
    known = set(META_COLUMNS) | set(LINE_ITEM_KEYS)
    for n, obj in enumerate(raw_periods, start=1):
        if not isinstance(obj, dict):
            errors.append(CellError(n, None, "each period must be an object"))
            continue
        for key in sorted(set(obj) - known):
            errors.append(CellError(n, key, "unknown field (expected fiscal_year, period_end, currency or a "
                                            "line item key)"))
        year = _parse_year(obj.get("fiscal_year"), n, "fiscal_year", errors)
        period_end = _parse_date(obj.get("period_end"), n, "period_end", year, errors)
        currency = _parse_currency(obj.get("currency"), n, "currency", company_currency, errors) \
            if obj.get("currency") not in (None, "") else default_currency
        values: dict[str, Decimal | None] = {}
        for key in LINE_ITEM_KEYS:
            if key in obj:
                value, problem = parse_amount(obj[key], key)
                if problem:
                    errors.append(CellError(n, key, problem))
                values[key] = value
        if not values and year is not None:
            errors.append(CellError(n, None, "the period has no line items"))
        if year is not None:
            periods.append(ParsedPeriod(year, currency, period_end, values, row=n))
    _check_duplicates(periods, "fiscal_year", errors)
    if errors:
        raise ImportFailed(errors)
    return periods


# --- SEC companyfacts ------------------------------------------------------------------------------------
def _annual_duration(entry: dict) -> bool:
    start = entry.get("start")
    if not start:
        return True  # instant (balance sheet) values have no start
    try:
        days = (datetime.date.fromisoformat(entry["end"]) - datetime.date.fromisoformat(start)).days
    except (KeyError, TypeError, ValueError):
        return False
    return 350 <= days <= 380


def _sec_date(value) -> bool:
    try:
        datetime.date.fromisoformat(value)
    except (TypeError, ValueError):
        return False
    return True


def _check_sec_structure(gaap: dict) -> None:
    """Every tag the importer may read has the companyfacts shape: {"units": {unit: [entry, ...]}}, and every
    entry's "end" / "start" is a date and "fy" a year; otherwise ImportFailed naming where, before anything is used."""
    errors: list[CellError] = []
    wanted = {tag for item in LINE_ITEMS for tag in item.us_gaap}
    for tag in sorted(wanted & set(gaap)):
        where = f"us-gaap.{tag}"
        fact = gaap[tag]
        if not isinstance(fact, dict):
            errors.append(CellError(None, where, "must be an object with \"units\""))
            continue
        units = fact.get("units")
        if not isinstance(units, dict):
            errors.append(CellError(None, f"{where}.units", "must be an object of unit -> list of entries"))
            continue
        for unit, entries in units.items():
            if not isinstance(entries, list):
                errors.append(CellError(None, f"{where}.units.{unit}", "must be a list of entries"))
                continue
            for i, e in enumerate(entries):
                at = f"{where}.units.{unit}[{i}]"
                if not isinstance(e, dict):
                    errors.append(CellError(None, at, "each entry must be an object"))
                    continue
                if not _sec_date(e.get("end")):
                    errors.append(CellError(None, f"{at}.end", "\"end\" must be a date (YYYY-MM-DD)"))
                if e.get("start") is not None and not _sec_date(e.get("start")):
                    errors.append(CellError(None, f"{at}.start", "\"start\" must be a date (YYYY-MM-DD)"))
                fy = e.get("fy")
                if fy is not None and (isinstance(fy, bool) or not isinstance(fy, int)):
                    errors.append(CellError(None, f"{at}.fy", "\"fy\" must be a whole number"))
        if len(errors) >= 50:
            break
    if errors:
        raise ImportFailed(errors[:50])


def parse_sec_companyfacts(data, *, company_currency: str) -> list[ParsedPeriod]:
    """Annual values from an SEC companyfacts document (https://data.sec.gov/api/xbrl/companyfacts/...).

    Taken: facts["us-gaap"][tag]["units"]["USD" | "shares"] entries with form 10-K or 10-K/A and fp "FY".
    A 10-K also repeats earlier years as comparatives under the same "fy", so each fiscal year's end is the
    latest "end" among its ~1-year duration entries (among its instants when it has none; so a later instant,
    e.g. a subsequent-event balance, does not move it), and the value taken is the one whose end is that date (for income and
    cash-flow items also a ~1-year duration); among amendments the latest filed wins. Tags are tried in the
    order of LINE_ITEMS us_gaap; the first with a value for the year is used.
    """
    if not isinstance(data, dict) or not isinstance(data.get("facts"), dict):
        raise ImportFailed([CellError(None, None, "not an SEC companyfacts document (no \"facts\" object)")])
    gaap = data["facts"].get("us-gaap")
    if not isinstance(gaap, dict) or not gaap:
        raise ImportFailed([CellError(None, "us-gaap", "the document has no us-gaap facts")])
    _check_sec_structure(gaap)
    units_seen: set[str] = set()
    # (item key, tag) -> annual 10-K entries
    candidates: dict[tuple[str, str], list[dict]] = {}
    fy_end: dict[int, str] = {}  # latest end of a ~1-year duration entry of the fy (instants only if none)
    fy_instant_end: dict[int, str] = {}
    for item in LINE_ITEMS:
        unit = "shares" if item.unit == "shares" else company_currency
        for tag in item.us_gaap:
            units = (gaap.get(tag) or {}).get("units") or {}
            if item.unit == "currency":
                units_seen.update(u for u in units if u != "shares")
            entries = [e for e in units.get(unit, []) if isinstance(e, dict)
                       and e.get("form") in ("10-K", "10-K/A") and e.get("fp") == "FY"
                       and isinstance(e.get("fy"), int) and isinstance(e.get("end"), str) and "val" in e]
            candidates[(item.key, tag)] = entries
            for e in entries:
                ends = fy_end if e.get("start") and _annual_duration(e) else fy_instant_end if not e.get("start") else {}
                if e["end"] > ends.get(e["fy"], ""):
                    ends[e["fy"]] = e["end"]
    for fy, end in fy_instant_end.items():
        fy_end.setdefault(fy, end)
    if units_seen and company_currency not in units_seen:
        raise ImportFailed([CellError(None, "currency", f"currency mismatch: the facts are in "
                                                        f"{', '.join(sorted(units_seen))} but the company "
                                                        f"reports in {company_currency}")])
    if not fy_end:
        raise ImportFailed([CellError(None, None, "no annual (10-K, FY) values of known line items found")])
    errors: list[CellError] = []
    periods: list[ParsedPeriod] = []
    for fy in sorted(fy_end):
        if not MIN_YEAR <= fy <= max_year():
            errors.append(CellError(fy, "fy", f"fiscal year {fy} is out of range ({MIN_YEAR}-{max_year()})"))
            continue
        end = fy_end[fy]
        values: dict[str, Decimal | None] = {}
        for item in LINE_ITEMS:
            for tag in item.us_gaap:
                hits = [e for e in candidates[(item.key, tag)] if e["fy"] == fy and e["end"] == end
                        and (item.statement == "balance" or _annual_duration(e))]
                if hits:
                    best = max(hits, key=lambda e: str(e.get("filed", "")))
                    value, problem = parse_amount(best["val"], item.key)
                    if problem:
                        errors.append(CellError(fy, f"{item.key} (us-gaap:{tag})", problem))
                    values[item.key] = value
                    break
        if any(v is not None for v in values.values()):
            periods.append(ParsedPeriod(fy, company_currency, datetime.date.fromisoformat(end), values, row=fy))
    if errors:
        raise ImportFailed(errors)
    if len(periods) > MAX_PERIODS:
        periods = periods[-MAX_PERIODS:]
    return periods


def _json_cell(path: tuple, message: str) -> CellError:
    """Where the shared JSON reader refused something, as the importer names it: periods[i].key is row i + 1."""
    if len(path) >= 2 and path[0] == "periods" and isinstance(path[1], int):
        return CellError(path[1] + 1, field_name(path[2:]) if len(path) > 2 else None, message)
    return CellError(None, field_name(path) if path else None, message)


# --- entry point -----------------------------------------------------------------------------------------
def detect_format(*, filename: str = "", content: bytes) -> str | None:
    name = filename.lower()
    if name.endswith(".csv"):
        return "csv"
    if name.endswith(".json"):
        return "json"
    head = content.lstrip()[:1]
    if head in (b"{", b"["):
        return "json"
    return "csv" if not name or name.endswith(".txt") else None


def parse_file(*, content: bytes, company_currency: str, filename: str = "", fmt: str | None = None,
               ) -> tuple[str, list[ParsedPeriod]]:
    """(format, periods) of an uploaded file; format is csv, json or sec (a JSON with "facts").

    Raises ImportFailed listing every problem."""
    if fmt is not None and fmt not in FORMATS:
        raise ImportFailed([CellError(None, "format", f"unknown format {fmt!r} (expected csv, json or sec)")])
    if len(content) > MAX_IMPORT_BYTES:
        raise ImportFailed([CellError(None, None, f"the file is too large: {len(content)} bytes "
                                                  f"(at most {MAX_IMPORT_BYTES})")])
    if not content.strip():
        raise ImportFailed([CellError(None, None, "the file is empty")])
    if b"\x00" in content:
        raise ImportFailed([CellError(None, None, "the file is not CSV or JSON (it is binary)")])
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportFailed([CellError(None, None, "the file is not CSV or JSON (not UTF-8 text)")]) from None
    fmt = fmt or detect_format(filename=filename, content=content)
    if fmt is None:
        raise ImportFailed([CellError(None, None, f"the file {filename!r} is not CSV or JSON "
                                                  f"(use a .csv or .json file)")])
    if fmt == "csv":
        if text.lstrip()[:1] in ("{", "["):
            raise ImportFailed([CellError(None, None, "the file looks like JSON, not CSV")])
        return "csv", parse_csv(text, company_currency=company_currency)
    try:
        data = json_loads(text, max_bytes=MAX_IMPORT_BYTES)
    except JSONInputError as exc:
        raise ImportFailed([_json_cell(exc.path, exc.message)]) from None
    return parse_data(data, company_currency=company_currency, fmt=None if fmt == "json" else fmt)


def parse_data(data, *, company_currency: str, fmt: str | None = None) -> tuple[str, list[ParsedPeriod]]:
    """(format, periods) of an already-decoded JSON body: SEC companyfacts when it has "facts", else JSON."""
    if fmt == "sec" or (fmt is None and isinstance(data, dict) and "facts" in data):
        return "sec", parse_sec_companyfacts(data, company_currency=company_currency)
    return "json", parse_json(data, company_currency=company_currency)
