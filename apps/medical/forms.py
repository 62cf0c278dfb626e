"""Forms of the medical pages. They parse input; services validate the clinical rules and write."""
from __future__ import annotations

import json

from django import forms

from apps.medical.clinical import CONSCIOUSNESS_LEVELS, SEXES
from apps.medical.models import Review


class EncounterForm(forms.Form):
    patient_ref = forms.CharField(max_length=64, label="Patient id (pseudonymous)")
    age = forms.IntegerField(min_value=0, max_value=120)
    sex = forms.ChoiceField(choices=[(s, s) for s in SEXES])
    chief_complaint = forms.CharField(max_length=300)
    heart_rate = forms.IntegerField(required=False, label="Heart rate (/min)")
    systolic_bp = forms.IntegerField(required=False, label="Systolic BP (mmHg)")
    diastolic_bp = forms.IntegerField(required=False, label="Diastolic BP (mmHg)")
    respiratory_rate = forms.IntegerField(required=False, label="Respiratory rate (/min)")
    spo2 = forms.IntegerField(required=False, label="SpO2 (%)")
    temperature_c = forms.FloatField(required=False, label="Temperature (C)")
    pain_score = forms.IntegerField(required=False, label="Pain (0-10)")
    consciousness = forms.ChoiceField(
        required=False, choices=[("", "—")] + [(c, c.replace("_", " ")) for c in CONSCIOUSNESS_LEVELS]
    )
    history = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    allergies = forms.CharField(required=False, help_text="comma-separated")
    current_medications = forms.CharField(required=False, help_text="comma-separated")
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}), label="Notes / transcript")
    start_work = forms.BooleanField(required=False, initial=True, label="Start triage and a draft note now")


class DraftEditForm(forms.Form):
    subjective = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}))
    objective = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}))
    assessment = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    plan = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}))
    icd_codes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}),
                                help_text='JSON list: [{"code": "R07.9", "description": "Chest pain"}]')
    medications = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 4}),
        help_text='JSON list: [{"name": "aspirin", "dose_mg": 300, "route": "oral", "frequency": "once", '
                  '"times_per_day": 1}]',
    )

    def _json_list(self, name: str) -> list:
        raw = (self.cleaned_data.get(name) or "").strip()
        if not raw:
            return []
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise forms.ValidationError(f"not valid JSON: {exc}") from None
        if not isinstance(value, list):
            raise forms.ValidationError("expected a JSON list")
        return value

    def clean_icd_codes(self):
        return self._json_list("icd_codes")

    def clean_medications(self):
        return self._json_list("medications")


class ReviewForm(forms.Form):
    score = forms.DecimalField(min_value=0, max_value=1, decimal_places=2, max_digits=3,
                               widget=forms.NumberInput(attrs={"step": "0.01"}))
    decision = forms.ChoiceField(choices=Review.Decision.choices, widget=forms.RadioSelect)
    comments = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))


class AcknowledgeForm(forms.Form):
    """A reviewer's reason for acknowledging a finding whose check could not run (the service requires it)."""

    note = forms.CharField(required=False, max_length=300, label="Reason")
