"""Forms of the report pages."""
from __future__ import annotations

from django import forms
from django.conf import settings


class ReportNewForm(forms.Form):
    company = forms.ModelChoiceField(queryset=None, empty_label=None)
    wacc = forms.FloatField(min_value=0.001, max_value=0.499, initial=settings.PLUMBLINE_REPORT_DEFAULT_WACC,
                            help_text="a fraction: 0.09 = 9%")
    terminal_growth = forms.FloatField(min_value=-0.05, max_value=0.199,
                                       initial=settings.PLUMBLINE_REPORT_DEFAULT_TERMINAL_GROWTH,
                                       help_text="a fraction: 0.025 = 2.5%")
    forecast_years = forms.IntegerField(min_value=1, max_value=30,
                                        initial=settings.PLUMBLINE_REPORT_DEFAULT_FORECAST_YEARS)

    def __init__(self, *args, companies, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["company"].queryset = companies


class SectionEditForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 8}), max_length=settings.PLUMBLINE_REPORT_MAX_SECTION_CHARS)


class DcfForm(forms.Form):
    wacc = forms.FloatField(min_value=0.001, max_value=0.499, label="WACC")
    terminal_growth = forms.FloatField(min_value=-0.05, max_value=0.199)
    forecast_years = forms.IntegerField(min_value=1, max_value=30)
