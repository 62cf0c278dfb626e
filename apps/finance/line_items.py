"""Canonical financial statement line items (the finance contract).

Every statement value in Plumbline is stored and exchanged under one of these keys.
Values are in the statement's currency units (not thousands); shares are a count;
``capital_expenditure`` and ``dividends_paid`` are positive amounts spent. Any item
may be missing (None) in a period.

``us_gaap`` lists the SEC companyfacts tags that map to the item, in order of
preference (the importer takes the first tag that has an annual value for a year).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Statement = Literal["income", "balance", "cash_flow"]
Unit = Literal["currency", "shares"]


@dataclass(frozen=True)
class LineItem:
    key: str
    label: str
    statement: Statement
    unit: Unit
    us_gaap: tuple[str, ...]
    # True when a negative value is meaningful (losses, negative equity, ...).
    may_be_negative: bool = False


LINE_ITEMS: tuple[LineItem, ...] = (
    # income statement
    LineItem("revenue", "Revenue", "income", "currency", (
        "Revenues", "RevenueFromContractWithCustomerExcludingAssessedTax",
        "RevenueFromContractWithCustomerIncludingAssessedTax", "SalesRevenueNet")),
    LineItem("cost_of_revenue", "Cost of revenue", "income", "currency", (
        "CostOfRevenue", "CostOfGoodsAndServicesSold", "CostOfGoodsSold")),
    LineItem("gross_profit", "Gross profit", "income", "currency", ("GrossProfit",), may_be_negative=True),
    LineItem("operating_expenses", "Operating expenses", "income", "currency", (
        "OperatingExpenses", "CostsAndExpenses")),
    LineItem("operating_income", "Operating income", "income", "currency", ("OperatingIncomeLoss",),
             may_be_negative=True),
    LineItem("depreciation_amortization", "Depreciation and amortization", "income", "currency", (
        "DepreciationDepletionAndAmortization", "DepreciationAndAmortization", "Depreciation")),
    LineItem("interest_expense", "Interest expense", "income", "currency", (
        "InterestExpense", "InterestExpenseNonoperating")),
    LineItem("pretax_income", "Pre-tax income", "income", "currency", (
        "IncomeLossFromContinuingOperationsBeforeIncomeTaxesExtraordinaryItemsNoncontrollingInterest",
        "IncomeLossFromContinuingOperationsBeforeIncomeTaxesMinorityInterestAndIncomeLossFromEquityMethodInvestments",
    ), may_be_negative=True),
    LineItem("income_tax", "Income tax", "income", "currency", ("IncomeTaxExpenseBenefit",), may_be_negative=True),
    LineItem("net_income", "Net income", "income", "currency", ("NetIncomeLoss", "ProfitLoss"),
             may_be_negative=True),
    LineItem("shares_diluted", "Diluted shares", "income", "shares", (
        "WeightedAverageNumberOfDilutedSharesOutstanding",)),
    # balance sheet
    LineItem("cash", "Cash and equivalents", "balance", "currency", (
        "CashAndCashEquivalentsAtCarryingValue",
        "CashCashEquivalentsRestrictedCashAndRestrictedCashEquivalents")),
    LineItem("receivables", "Receivables", "balance", "currency", (
        "AccountsReceivableNetCurrent", "ReceivablesNetCurrent")),
    LineItem("inventory", "Inventory", "balance", "currency", ("InventoryNet",)),
    LineItem("current_assets", "Current assets", "balance", "currency", ("AssetsCurrent",)),
    LineItem("total_assets", "Total assets", "balance", "currency", ("Assets",)),
    LineItem("current_liabilities", "Current liabilities", "balance", "currency", ("LiabilitiesCurrent",)),
    LineItem("total_debt", "Total debt", "balance", "currency", (
        "LongTermDebt", "DebtLongtermAndShorttermCombinedAmount", "LongTermDebtNoncurrent")),
    LineItem("total_liabilities", "Total liabilities", "balance", "currency", ("Liabilities",)),
    LineItem("total_equity", "Total equity", "balance", "currency", (
        "StockholdersEquity",
        "StockholdersEquityIncludingPortionAttributableToNoncontrollingInterest"), may_be_negative=True),
    # cash flow statement
    LineItem("operating_cash_flow", "Operating cash flow", "cash_flow", "currency", (
        "NetCashProvidedByUsedInOperatingActivities",), may_be_negative=True),
    LineItem("capital_expenditure", "Capital expenditure", "cash_flow", "currency", (
        "PaymentsToAcquirePropertyPlantAndEquipment",)),
    LineItem("dividends_paid", "Dividends paid", "cash_flow", "currency", (
        "PaymentsOfDividends", "PaymentsOfDividendsCommonStock")),
)

LINE_ITEM_KEYS: tuple[str, ...] = tuple(item.key for item in LINE_ITEMS)
_BY_KEY = {item.key: item for item in LINE_ITEMS}

STATEMENTS: tuple[tuple[str, str], ...] = (
    ("income", "Income statement"),
    ("balance", "Balance sheet"),
    ("cash_flow", "Cash flow statement"),
)


def line_item(key: str) -> LineItem:
    """The line item with this key; KeyError naming the key when unknown."""
    try:
        return _BY_KEY[key]
    except KeyError:
        raise KeyError(f"unknown line item {key!r}") from None


def items_for_statement(statement: str) -> tuple[LineItem, ...]:
    return tuple(item for item in LINE_ITEMS if item.statement == statement)
