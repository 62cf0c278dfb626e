"""Encounters: validation of impossible vitals (a message per field), nothing written on bad input; scoping."""
import pytest

from apps.accounts.models import AuditEvent
from apps.medical.models import Encounter
from tests.apps.medical.factories import ENCOUNTER, encounter

pytestmark = pytest.mark.django_db


def test_create_stores_the_encounter_and_its_lists(make_user):
    clinician = make_user("clinician")
    e = encounter(clinician, allergies=[" penicillin ", ""], current_medications=["ramipril", "aspirin"])
    e.refresh_from_db()
    assert e.allergies == ["penicillin"] and e.current_medications == ["ramipril", "aspirin"]
    assert e.vitals.heart_rate == 96 and e.vitals.consciousness == "alert"
    assert AuditEvent.objects.filter(action="medical_encounter.create", object_id=str(e.pk)).count() == 1


def test_impossible_vitals_name_each_field_and_nothing_is_written(make_user):
    from django.core.exceptions import ValidationError

    clinician = make_user("clinician")
    before = (Encounter.objects.count(), AuditEvent.objects.count())
    with pytest.raises(ValidationError) as exc:
        encounter(clinician, heart_rate=400, spo2=130, temperature_c=50.0, systolic_bp=70, diastolic_bp=80,
                  patient_ref="John Smith")
    errors = exc.value.message_dict
    assert set(errors) == {"heart_rate", "spo2", "temperature_c", "systolic_bp", "patient_ref"}
    assert "heart_rate 400" in errors["heart_rate"][0]
    assert "greater than diastolic" in errors["systolic_bp"][0]
    assert (Encounter.objects.count(), AuditEvent.objects.count()) == before


def test_an_analyst_may_not_create_an_encounter(make_user):
    from apps.core.exceptions import ApplicationError

    with pytest.raises(ApplicationError) as exc:
        encounter(make_user("analyst"))
    assert exc.value.status == 403
    assert not Encounter.objects.exists()


def test_clinicians_see_their_own_encounters_and_reviewers_all(make_user):
    from django.http import Http404

    from apps.medical.selectors import encounter_for_user, encounters_for_user

    a, b, reviewer = make_user("clinician"), make_user("clinician"), make_user("reviewer")
    ea, eb = encounter(a), encounter(b, patient_ref="PT-TEST-0009")
    assert list(encounters_for_user(user=a)) == [ea]
    assert set(encounters_for_user(user=reviewer)) == {ea, eb}
    with pytest.raises(Http404):
        encounter_for_user(user=a, encounter_id=eb.pk)


def test_form_page_shows_field_errors(client, make_user):
    clinician = make_user("clinician")
    client.force_login(clinician)
    data = {**ENCOUNTER, "heart_rate": 0, "respiratory_rate": 95, "allergies": "penicillin", "current_medications": ""}
    data["heart_rate"] = 350
    resp = client.post("/medical/encounters/new/", data)
    assert resp.status_code == 400
    html = resp.content.decode()
    assert 'data-testid="error-heart_rate"' in html and 'data-testid="error-respiratory_rate"' in html
    assert "respiratory_rate 95" in html
    assert not Encounter.objects.exists()


def test_demo_encounters_are_fictional_and_seeded_once(make_user):
    from apps.medical.demo import DEMO_CLINICIAN, demo_medical_seed
    from apps.medical.models import Draft

    make_user("clinician", username=DEMO_CLINICIAN)
    logs: list[str] = []
    assert demo_medical_seed(log=logs.append) is True
    assert Encounter.objects.filter(patient_ref__startswith="DEMO-ED-").count() == 3
    note = Draft.objects.get(encounter__patient_ref="DEMO-ED-0003")
    assert note.verification == "passed" and note.status == "in_review"
    assert demo_medical_seed(log=logs.append) is False
    assert Encounter.objects.count() == 3 and Draft.objects.count() == 1
    assert all("fictional" in line for line in logs)
