"""Reads of companies and statements, always through the user's team (admins see every team)."""
from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404

from apps.accounts.roles import ADMIN
from apps.finance.line_items import LINE_ITEM_KEYS
from apps.finance.models import Company, FinancialStatement


def sees_all_teams(user) -> bool:
    return bool(user.is_superuser or user.role == ADMIN)


def companies_for_user(user) -> QuerySet[Company]:
    """The companies the user may see: their team's; admins all; nobody else (no team -> none)."""
    if user is None or not user.is_authenticated:
        return Company.objects.none()
    qs = Company.objects.select_related("team")
    if sees_all_teams(user):
        return qs
    if user.team_id is None:
        return Company.objects.none()
    return qs.filter(team_id=user.team_id)


def companies_with_summary(companies: QuerySet[Company]) -> QuerySet[Company]:
    """`companies` with what a company's API summary shows fetched in two queries for the whole list, not two per
    company: its peers (by name) and its statements (oldest first)."""
    return companies.prefetch_related(
        Prefetch("peers", queryset=Company.objects.order_by("name")),
        Prefetch("statements", queryset=FinancialStatement.objects.order_by("fiscal_year")),
    )


def company_for_user(user, company_id: int) -> Company:
    """The company, or 404 when it does not exist or belongs to another team."""
    return get_object_or_404(companies_for_user(user), pk=company_id)


def statements_for_company(company: Company) -> QuerySet[FinancialStatement]:
    return FinancialStatement.objects.filter(company=company).order_by("fiscal_year")


def statement_table(company: Company) -> tuple[list[int], list[tuple[str, str, list]]]:
    """(years, rows) for a statements table: one row per line item (key, label, value per year)."""
    from apps.finance.line_items import LINE_ITEMS

    statements = list(statements_for_company(company))
    years = [s.fiscal_year for s in statements]
    rows = [(item.key, item.label, [getattr(s, item.key) for s in statements]) for item in LINE_ITEMS]
    return years, rows


def periods_for_company(company: Company) -> list:
    """The company's statements as analytics FinancialPeriods, oldest first."""
    from apps.finance.analytics import FinancialPeriod

    return [
        FinancialPeriod(fiscal_year=s.fiscal_year, currency=s.currency,
                        values={k: getattr(s, k) for k in LINE_ITEM_KEYS})
        for s in statements_for_company(company)
    ]


def peers_for_company(company: Company) -> list:
    """The company's peers that have a share price and statements: each with its latest fiscal year.

    Peers in another currency are left out (their multiples would not compare)."""
    from apps.finance.analytics import Peer

    peers = []
    for peer in company.peers.exclude(pk=company.pk).filter(team_id=company.team_id).order_by("name"):
        if peer.price_per_share is None or peer.currency != company.currency:
            continue
        periods = periods_for_company(peer)
        if periods:
            peers.append(Peer(name=peer.name, price_per_share=peer.price_per_share, period=periods[-1]))
    return peers
