"""Forms of the company pages; the services do the checking."""
from __future__ import annotations

from django import forms

from apps.finance.importers import MAX_IMPORT_BYTES
from apps.finance.line_items import LINE_ITEMS


class CompanyForm(forms.Form):
    name = forms.CharField(max_length=200)
    ticker = forms.CharField(max_length=16, required=False)
    currency = forms.CharField(max_length=3, min_length=3, initial="USD", help_text="3-letter ISO code, e.g. USD")
    price_per_share = forms.DecimalField(max_digits=18, decimal_places=4, min_value=0, required=False,
                                         label="Price per share")
    fictional = forms.BooleanField(required=False, label="Fictional company (demo or test data)")
    peers = forms.ModelMultipleChoiceField(queryset=None, required=False, label="Peers (your team's companies)")

    def __init__(self, *args, companies, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["peers"].queryset = companies


class CompanyEditForm(forms.Form):
    ticker = forms.CharField(max_length=16, required=False)
    price_per_share = forms.DecimalField(max_digits=18, decimal_places=4, min_value=0, required=False,
                                         label="Price per share (blank: none)")
    peers = forms.ModelMultipleChoiceField(queryset=None, required=False, label="Peers (your team's companies)")

    def __init__(self, *args, companies, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["peers"].queryset = companies


class StatementForm(forms.Form):
    """One fiscal year; a line item left blank is stored as missing."""

    fiscal_year = forms.IntegerField(label="Fiscal year")
    period_end = forms.DateField(required=False, label="Period end (YYYY-MM-DD)")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for item in LINE_ITEMS:
            unit = "shares" if item.unit == "shares" else "currency units"
            self.fields[item.key] = forms.CharField(required=False, label=f"{item.label} ({unit})", max_length=40)

    def grouped(self):
        """[(statement title, [bound fields])] for the template."""
        from apps.finance.line_items import STATEMENTS

        return [(title, [self[item.key] for item in LINE_ITEMS if item.statement == key])
                for key, title in STATEMENTS]


class ImportForm(forms.Form):
    file = forms.FileField(label="Statement file (.csv or .json)",
                           help_text=f"CSV, JSON or SEC companyfacts JSON; at most {MAX_IMPORT_BYTES // 1024 // 1024} MiB")
    format = forms.ChoiceField(choices=[("", "detect from the file"), ("csv", "CSV"), ("json", "JSON"),
                                        ("sec", "SEC companyfacts JSON")], required=False, label="Format")
