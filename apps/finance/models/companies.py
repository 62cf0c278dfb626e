"""Companies and their yearly financial statements (one row per company and fiscal year)."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.finance.line_items import LINE_ITEM_KEYS

MIN_FISCAL_YEAR, MAX_FISCAL_YEAR = 1900, 2100


def _amount(label: str) -> models.DecimalField:
    # Currency units (not thousands) or a share count; None = not reported for the period.
    return models.DecimalField(label, max_digits=24, decimal_places=4, null=True, blank=True)


class Company(models.Model):
    """A company an analyst team researches. `fictional` marks made-up companies (demo and test data)."""

    name = models.CharField(max_length=200)
    ticker = models.CharField(max_length=16, blank=True)
    currency = models.CharField(max_length=3, default="USD")  # ISO 4217; every statement of the company uses it
    team = models.ForeignKey("accounts.Team", on_delete=models.PROTECT, related_name="companies")
    fictional = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    price_per_share = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    peers = models.ManyToManyField("self", blank=True)  # symmetrical: A peer of B makes B a peer of A

    class Meta:
        ordering = ["name", "id"]
        verbose_name_plural = "companies"
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="finance_company_unique_name_in_team")]

    def __str__(self) -> str:
        return f"{self.name} ({self.ticker})" if self.ticker else self.name


class FinancialStatement(models.Model):
    """One fiscal year of a company's income statement, balance sheet and cash flow (keys of LINE_ITEMS)."""

    class Source(models.TextChoices):
        MANUAL = "manual"
        CSV = "csv"
        JSON = "json"
        SEC = "sec"
        DEMO = "demo"

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="statements")
    fiscal_year = models.PositiveSmallIntegerField()
    period_end = models.DateField(null=True, blank=True)
    currency = models.CharField(max_length=3)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.MANUAL)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    revenue = _amount("Revenue")
    cost_of_revenue = _amount("Cost of revenue")
    gross_profit = _amount("Gross profit")
    operating_expenses = _amount("Operating expenses")
    operating_income = _amount("Operating income")
    depreciation_amortization = _amount("Depreciation and amortization")
    interest_expense = _amount("Interest expense")
    pretax_income = _amount("Pre-tax income")
    income_tax = _amount("Income tax")
    net_income = _amount("Net income")
    shares_diluted = _amount("Diluted shares")
    cash = _amount("Cash and equivalents")
    receivables = _amount("Receivables")
    inventory = _amount("Inventory")
    current_assets = _amount("Current assets")
    total_assets = _amount("Total assets")
    current_liabilities = _amount("Current liabilities")
    total_debt = _amount("Total debt")
    total_liabilities = _amount("Total liabilities")
    total_equity = _amount("Total equity")
    operating_cash_flow = _amount("Operating cash flow")
    capital_expenditure = _amount("Capital expenditure")
    dividends_paid = _amount("Dividends paid")

    class Meta:
        ordering = ["company_id", "fiscal_year"]
        constraints = [
            models.UniqueConstraint(fields=["company", "fiscal_year"], name="finance_statement_unique_year"),
            models.CheckConstraint(
                condition=models.Q(fiscal_year__gte=MIN_FISCAL_YEAR, fiscal_year__lte=MAX_FISCAL_YEAR),
                name="finance_statement_year_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.company_id} FY{self.fiscal_year}"

    def values(self) -> dict:
        """Line-item key -> Decimal or None."""
        return {key: getattr(self, key) for key in LINE_ITEM_KEYS}
