"""The finance app's models: companies and statements (companies.py), research reports (reports.py)."""
from apps.finance.models.companies import MAX_FISCAL_YEAR, MIN_FISCAL_YEAR, Company, FinancialStatement
from apps.finance.models.reports import Report, ReportRun, ReportSection, ReportSectionVersion

__all__ = [
    "MAX_FISCAL_YEAR", "MIN_FISCAL_YEAR", "Company", "FinancialStatement", "Report", "ReportRun", "ReportSection",
    "ReportSectionVersion",
]
