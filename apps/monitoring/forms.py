"""The capacity planner's query form (GET): every value checked against what modelcore.planner accepts."""
from django import forms

from apps.generation import model_api


def _choices(name: str):
    return lambda: [(v, v) for v in model_api.capacity_choices()[name]]


class PlannerForm(forms.Form):
    model = forms.ChoiceField(choices=_choices("model"))
    precision = forms.ChoiceField(choices=_choices("precision"))
    hardware = forms.ChoiceField(choices=_choices("hardware"), help_text="cpu = this CPU as measured")
    devices = forms.IntegerField(min_value=1, max_value=8, initial=1)
    scenario = forms.ChoiceField(choices=_choices("scenario"))
    batch = forms.IntegerField(min_value=1, max_value=1024, required=False,
                               help_text="streams per replica; empty: the scenario's (chat 1, batch 64, edge 1)")
    context = forms.IntegerField(min_value=2, max_value=1_000_000, required=False,
                                 help_text="tokens per stream; empty: 2048")

    FIELDS = ("model", "precision", "hardware", "devices", "scenario", "batch", "context")
