"""Writes of the finance app's data: teams, companies, statements and their imports."""
from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, transaction

from apps.accounts.audit import audit_log
from apps.accounts.models import Team
from apps.accounts.services import team_get_or_create, user_set_team  # noqa: F401  (re-exported)
from apps.core.exceptions import ApplicationError
from apps.finance import importers
from apps.finance.importers import CellError, ImportFailed, ParsedPeriod
from apps.finance.line_items import LINE_ITEM_KEYS
from apps.finance.models import Company, FinancialStatement

_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True)
class ImportResult:
    format: str
    created_years: list[int]
    replaced_years: list[int]

    @property
    def years(self) -> list[int]:
        return sorted(self.created_years + self.replaced_years)


def _require_team(user) -> Team:
    if user.team_id is None:
        raise ApplicationError("you are not in a team; ask an admin to add you to one before creating companies",
                               field="team", status=403, code="no_team")
    return user.team


# --- companies -------------------------------------------------------------------------------------------
def _clean_currency(value: str) -> str:
    value = (value or "").strip().upper()
    if not _CURRENCY_RE.match(value):
        raise ApplicationError(f"currency {value!r} is not a 3-letter ISO code", field="currency")
    return value


def _clean_peers(*, team_id: int, peers, company: Company | None = None) -> list[Company]:
    peers = list(peers or ())
    ids = [p.pk if isinstance(p, Company) else int(p) for p in peers]
    found = {c.pk: c for c in Company.objects.filter(pk__in=ids, team_id=team_id)}
    missing = [i for i in ids if i not in found]
    if missing:
        raise ApplicationError(f"no such companies in the team: {', '.join(map(str, missing))}", field="peers")
    if company is not None and company.pk in found:
        raise ApplicationError("a company cannot be its own peer", field="peers")
    return [found[i] for i in ids]


@transaction.atomic
def company_create(*, user, name: str, currency: str = "USD", ticker: str = "", price_per_share=None,
                   fictional: bool = False, peers=(), team: Team | None = None, request=None) -> Company:
    """Create a company in the user's team (admins may name another team). Audited."""
    from apps.finance.selectors import sees_all_teams

    if team is None or not sees_all_teams(user):
        team = _require_team(user)
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ApplicationError("name must be 1 to 200 characters", field="name")
    ticker = (ticker or "").strip().upper()
    if len(ticker) > 16:
        raise ApplicationError("ticker must be at most 16 characters", field="ticker")
    currency = _clean_currency(currency)
    if price_per_share is not None:
        price_per_share = Decimal(str(price_per_share))
        if not price_per_share.is_finite() or price_per_share <= 0:
            raise ApplicationError("price per share must be a positive number", field="price_per_share")
    if Company.objects.filter(team=team, name__iexact=name).exists():
        raise ApplicationError(f"your team already has a company named {name!r}", field="name", status=409,
                               code="duplicate")
    peer_list = _clean_peers(team_id=team.pk, peers=peers)
    try:
        with transaction.atomic():
            company = Company.objects.create(name=name, ticker=ticker, currency=currency, team=team,
                                             fictional=fictional, created_by=user, price_per_share=price_per_share)
    except IntegrityError:
        raise ApplicationError(f"your team already has a company named {name!r}", field="name", status=409,
                               code="duplicate") from None
    company.peers.set(peer_list)
    audit_log(actor=user, action="finance.company_create", obj=company, request=request,
              detail={"team": team.pk, "peers": [p.pk for p in peer_list]})
    return company


_UNSET = object()


@transaction.atomic
def company_update(*, user, company: Company, ticker=_UNSET, price_per_share=_UNSET, peers=_UNSET,
                   request=None) -> Company:
    """Change a company's ticker, share price (None clears it) or peers. Name, team and currency stay
    (statements are in that currency). Audited with the names of the changed fields."""
    changed = []
    if ticker is not _UNSET:
        ticker = (ticker or "").strip().upper()
        if len(ticker) > 16:
            raise ApplicationError("ticker must be at most 16 characters", field="ticker")
        company.ticker = ticker
        changed.append("ticker")
    if price_per_share is not _UNSET:
        if price_per_share is not None:
            price_per_share = Decimal(str(price_per_share))
            if not price_per_share.is_finite() or price_per_share <= 0:
                raise ApplicationError("price per share must be a positive number", field="price_per_share")
        company.price_per_share = price_per_share
        changed.append("price_per_share")
    peer_list = None
    if peers is not _UNSET:
        peer_list = _clean_peers(team_id=company.team_id, peers=peers, company=company)
        changed.append("peers")
    company.save()
    if peer_list is not None:
        company.peers.set(peer_list)
    audit_log(actor=user, action="finance.company_update", obj=company, request=request,
              detail={"fields": changed})
    return company


@transaction.atomic
def company_set_peers(*, user, company: Company, peers, request=None) -> None:
    peer_list = _clean_peers(team_id=company.team_id, peers=peers, company=company)
    company.peers.set(peer_list)
    audit_log(actor=user, action="finance.company_set_peers", obj=company, request=request,
              detail={"peers": [p.pk for p in peer_list]})


# --- statements ------------------------------------------------------------------------------------------
@transaction.atomic
def statements_import(*, user, company: Company, periods: list[ParsedPeriod], source: str,
                      request=None) -> ImportResult:
    """Write the periods in one transaction. A year that exists is REPLACED whole: every line item takes the
    imported value, and items the import does not give become empty. Audited."""
    if not periods:
        raise ImportFailed([CellError(None, None, "nothing to import")])
    wrong = [p for p in periods if p.currency != company.currency]
    if wrong:
        raise ImportFailed([CellError(p.row, "currency", f"currency mismatch: {p.currency} but the company "
                                                         f"reports in {company.currency}") for p in wrong])
    company = Company.objects.select_for_update().get(pk=company.pk)  # one import of a company at a time
    existing = set(FinancialStatement.objects.filter(company=company, fiscal_year__in=[p.fiscal_year for p in periods])
                   .values_list("fiscal_year", flat=True))
    created, replaced = [], []
    for p in periods:
        values = {k: p.values.get(k) for k in LINE_ITEM_KEYS}
        FinancialStatement.objects.update_or_create(
            company=company, fiscal_year=p.fiscal_year,
            defaults={"period_end": p.period_end, "currency": p.currency, "source": source, **values},
        )
        (replaced if p.fiscal_year in existing else created).append(p.fiscal_year)
    result = ImportResult(format=source, created_years=sorted(created), replaced_years=sorted(replaced))
    audit_log(actor=user, action="finance.statements_import", obj=company, request=request,
              detail={"format": source, "created": result.created_years, "replaced": result.replaced_years})
    return result


def statements_import_file(*, user, company: Company, content: bytes, filename: str = "", fmt: str | None = None,
                           request=None) -> ImportResult:
    """Parse an uploaded CSV / JSON / SEC companyfacts file and import it; ImportFailed lists every problem."""
    source, periods = importers.parse_file(content=content, filename=filename, fmt=fmt,
                                           company_currency=company.currency)
    return statements_import(user=user, company=company, periods=periods, source=source, request=request)


def statements_import_data(*, user, company: Company, data, fmt: str | None = None, request=None) -> ImportResult:
    """Import a JSON body (the JSON import format, or an SEC companyfacts document)."""
    source, periods = importers.parse_data(data, company_currency=company.currency, fmt=fmt)
    return statements_import(user=user, company=company, periods=periods, source=source, request=request)


def statement_save(*, user, company: Company, fiscal_year, period_end: datetime.date | None = None,
                   values: dict, request=None) -> ImportResult:
    """Enter one period by hand (the form); the same checks and replace rule as an import."""
    errors: list[CellError] = []
    year = importers._parse_year(fiscal_year, None, "fiscal_year", errors)
    if period_end is not None and year is not None and period_end.year not in (year, year + 1):
        errors.append(CellError(None, "period_end", f"period end {period_end} does not fall in fiscal year {year}"))
    clean: dict[str, Decimal | None] = {}
    for key, raw in values.items():
        if key not in LINE_ITEM_KEYS:
            errors.append(CellError(None, key, "unknown line item"))
            continue
        value, problem = importers.parse_amount(raw, key)
        if problem:
            errors.append(CellError(None, key, problem))
        clean[key] = value
    if not any(v is not None for v in clean.values()) and not errors:
        errors.append(CellError(None, None, "enter at least one line item"))
    if errors:
        raise ImportFailed(errors)
    period = ParsedPeriod(year, company.currency, period_end, clean)
    return statements_import(user=user, company=company, periods=[period], source="manual", request=request)
