"""Demo finance data: three fictional companies, five consistent years, peers of each other, idempotent."""
from __future__ import annotations

import pytest

from apps.accounts.models import AuditEvent
from apps.finance import selectors
from apps.finance.demo import demo_finance_seed
from apps.finance.models import Company, FinancialStatement

pytestmark = pytest.mark.django_db


def test_demo_seed_is_consistent_and_idempotent(make_user):
    from apps.finance.analytics import compute_facts

    assert demo_finance_seed(log=lambda s: None) is False  # no demo-analyst yet: nothing to own the data
    analyst = make_user("analyst", username="demo-analyst")
    lines: list[str] = []
    assert demo_finance_seed(log=lines.append) is True
    analyst.refresh_from_db()
    assert analyst.team.name == "demo-team"
    companies = list(selectors.companies_for_user(analyst))
    assert len(companies) == 3 and all(c.fictional and "Fictional" in c.name for c in companies)
    for c in companies:
        assert {p.pk for p in c.peers.all()} == {o.pk for o in companies if o.pk != c.pk}
        rows = list(FinancialStatement.objects.filter(company=c).order_by("fiscal_year"))
        assert [r.fiscal_year for r in rows] == [2020, 2021, 2022, 2023, 2024]
        for r in rows:
            assert all(v is not None for v in r.values().values())
            assert abs(r.revenue - r.cost_of_revenue - r.gross_profit) <= 1
            assert abs(r.gross_profit - r.operating_expenses - r.operating_income) <= 1
            assert abs(r.pretax_income - r.income_tax - r.net_income) <= 1
            assert abs(r.total_liabilities + r.total_equity - r.total_assets) <= 1
        for prev, cur in zip(rows, rows[1:], strict=False):
            assert abs(prev.total_equity + cur.net_income - cur.dividends_paid - cur.total_equity) <= 2
        facts = compute_facts(selectors.periods_for_company(c), price_per_share=float(c.price_per_share),
                              peers=selectors.peers_for_company(c))
        assert facts.get("revenue.2024").value > 0 and len(selectors.peers_for_company(c)) == 2
    state = (Company.objects.count(), FinancialStatement.objects.count(), AuditEvent.objects.count())
    assert demo_finance_seed(log=lines.append) is False
    assert state == (Company.objects.count(), FinancialStatement.objects.count(), AuditEvent.objects.count())
