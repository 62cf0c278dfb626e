"""Forms of the medical pages. They parse input; services validate the clinical rules and write."""
from __future__ import annotations

import re

from django import forms

from apps.medical.clinical import CONSCIOUSNESS_LEVELS, SEXES
from apps.medical.knowledge.loader import ROUTES
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
    """The four SOAP sections; the coded lines are the CodeFormSet and MedicationFormSet below."""

    subjective = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}))
    objective = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}))
    assessment = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    plan = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}))


CODE_SHAPE = re.compile(r"^[A-Za-z][0-9][0-9A-Za-z](\.?[0-9A-Za-z]{1,4})?$")


class CodeForm(forms.Form):
    """One diagnosis: an ICD-10-CM code (the page searches the table as you type) and its description."""

    code = forms.CharField(required=False, max_length=80, label="ICD-10-CM code",
                           widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false",
                                                         "data-icd-search": "1"}))
    description = forms.CharField(required=False, max_length=300, label="Description")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["code"].widget.attrs.pop("maxlength", None)  # the field takes search words too

    def clean_code(self):
        code = self.cleaned_data.get("code", "").strip()
        if code and not CODE_SHAPE.match(code):
            raise forms.ValidationError(f"{code[:40]} is not an ICD-10-CM code: choose one from the list, "
                                        "or type one such as R07.9")
        return code

    def clean(self):
        data = super().clean()
        if data.get("description", "").strip() and not data.get("code", "").strip():
            self.add_error("code", "enter the code of this diagnosis, or clear the description")
        return data

    def entry(self) -> dict | None:
        """{code, description} as the service takes it; None for a row left empty."""
        code = self.cleaned_data.get("code", "").strip()
        return {"code": code, "description": self.cleaned_data.get("description", "").strip()} if code else None


class MedicationForm(forms.Form):
    """One medication order: a knowledge-base name (suggested, not imposed: verification flags unknown drugs),
    dose in mg, route, frequency and doses a day."""

    name = forms.CharField(required=False, max_length=120, label="Medication",
                           widget=forms.TextInput(attrs={"list": "kb-drugs", "autocomplete": "off"}))
    dose_mg = forms.FloatField(required=False, min_value=0.001, label="Dose (mg)",
                               widget=forms.NumberInput(attrs={"step": "any"}))
    route = forms.ChoiceField(required=False, label="Route")
    frequency = forms.CharField(required=False, max_length=60, label="Frequency",
                                widget=forms.TextInput(attrs={"list": "frequencies"}))
    times_per_day = forms.IntegerField(required=False, min_value=1, max_value=24, label="Doses a day")
    # The dose as the model wrote it ("2 puffs"), kept while the dose in mg is unchanged.
    dose_text = forms.CharField(required=False, widget=forms.HiddenInput)
    written_dose_mg = forms.FloatField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        routes = [("", "—")] + [(r, r) for r in ROUTES]
        current = (self.initial.get("route") or "").strip() if self.initial else ""
        if self.is_bound:
            current = (self.data.get(self.add_prefix("route")) or "").strip()
        if current and current not in ROUTES:  # a route written before (by the model) stays selectable
            routes.append((current, current))
        self.fields["route"].choices = routes
        if self.initial and not self.is_bound:
            self.initial.setdefault("written_dose_mg", self.initial.get("dose_mg"))

    def clean(self):
        data = super().clean()
        if not data.get("name", "").strip() and any(data.get(k) not in (None, "") for k in (
                "dose_mg", "route", "frequency", "times_per_day")):
            self.add_error("name", "name the medication, or clear its dose, route and frequency")
        return data

    def entry(self) -> dict | None:
        data = self.cleaned_data
        name = data.get("name", "").strip()
        if not name:
            return None
        dose = data.get("dose_mg")
        entry = {"name": name, "dose_mg": dose, "route": data.get("route") or "",
                 "frequency": data.get("frequency", "").strip(), "times_per_day": data.get("times_per_day")}
        if data.get("dose_text") and dose == data.get("written_dose_mg"):
            entry["dose_text"] = data["dose_text"]
        return entry


CodeFormSet = forms.formset_factory(CodeForm, extra=1, max_num=40, validate_max=True)
MedicationFormSet = forms.formset_factory(MedicationForm, extra=1, max_num=40, validate_max=True)


def formset_entries(formset) -> list[dict]:
    """The non-empty rows of a valid formset, in order, as the draft services take them."""
    return [e for e in (f.entry() for f in formset.forms) if e is not None]


class ReviewForm(forms.Form):
    score = forms.DecimalField(min_value=0, max_value=1, decimal_places=2, max_digits=3,
                               widget=forms.NumberInput(attrs={"step": "0.01"}))
    decision = forms.ChoiceField(choices=Review.Decision.choices, widget=forms.RadioSelect, label="Decision")
    comments = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))


class AcknowledgeForm(forms.Form):
    """A reviewer's reason for acknowledging a finding whose check could not run (the service requires it)."""

    note = forms.CharField(required=False, max_length=300, label="Reason")
