"""Refused adapter uploads: configs outside the allow-list, serializer/form refusals, size limits.

Each refusal is a 4xx naming the field (and the config key), with one `adapter.upload_rejected` audit event,
no blob, no version row, no queued task and no temporary file left behind.
"""
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.accounts.models import AuditEvent
from apps.adapters import config_schema
from apps.adapters.datasets import DATA_DIR
from apps.adapters.models import AdapterVersion
from tests.apps.adapters import factories as f
from tests.apps.adapters.conftest import leftovers

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("dirs")]
REJECTED = "adapter.upload_rejected"


def post(client, *, config: bytes | None = None, weights: bytes | None = None, name="fin-lora", domain="finance",
         **extra):
    data = {"name": name, "domain": domain, **extra}
    if config is not None:
        data["config"] = SimpleUploadedFile("adapter_config.json", config)
    if weights is not None:
        data["weights"] = SimpleUploadedFile("adapter_model.safetensors", weights)
    return client.post("/api/v1/adapters/", data, format="multipart")


def assert_refused(tmp_path, callbacks, resp, *, field: str, status: int = 400, before: int = 0):
    assert resp.status_code == status, resp.content[:500]
    body = resp.json()
    assert set(body) == {"detail", "code", "errors"} and field in body["errors"], body
    assert AdapterVersion.objects.count() == 0
    assert leftovers(tmp_path) == []
    assert callbacks == []  # no evaluation queued
    events = AuditEvent.objects.filter(action=REJECTED)
    assert events.count() == before + 1
    assert events.order_by("-id").first().detail["field"] == field
    return body


# ------------------------------------------------------------------------ adapter_config.json allow-list
def with_config(**changes) -> bytes:
    config = json.loads((DATA_DIR / "finance" / "adapter" / "adapter_config.json").read_text())  # what peft writes
    config["base_model_name_or_path"] = f.BASE
    config.update(changes)
    return json.dumps(config).encode()


MALICIOUS = {
    "auto_mapping imports a class": ("auto_mapping", with_config(auto_mapping={"base_model_class": "os.system",
                                                                              "parent_library": "os"})),
    "unknown key": ("custom_loader", with_config(custom_loader="evil.module")),
    "unknown key set to null": ("trust_remote_code", with_config(trust_remote_code=None)),
    "unknown key with a NUL byte": ("\\x00", with_config(**{"\x00": None})),
    "nested object in an ignored option": ("loftq_config", with_config(loftq_config={"a": {"b": {"c": 1}}})),
    "eva_config set": ("eva_config", with_config(eva_config={"rho": 2.0})),
    "revision set": ("revision", with_config(revision="main")),
    "layers_pattern set": ("layers_pattern", with_config(layers_pattern="evil")),
    "megatron_core module name": ("megatron_core", with_config(megatron_core="os")),
    "inference_mode not a bool": ("inference_mode", with_config(inference_mode="yes")),
    "init_lora_weights a string": ("init_lora_weights", with_config(init_lora_weights="pissa")),
    "peft_version an object": ("peft_version", with_config(peft_version={"a": 1})),
    "huge r": ("r", with_config(r=10**9)),
    "r a string": ("r", with_config(r="8")),
    "r a bool": ("r", with_config(r=True)),
    "lora_alpha huge": ("lora_alpha", with_config(lora_alpha=1e300)),
    "target_modules not strings": ("target_modules", with_config(target_modules=[{"__class__": "os.system"}])),
    "target_modules repeated": ("target_modules", with_config(target_modules=["q_proj", "q_proj"])),
    "base model not a plain name": ("base_model_name_or_path", with_config(base_model_name_or_path="../../etc")),
    "r missing": ("r", json.dumps({k: v for k, v in json.loads(with_config()).items() if k != "r"}).encode()),
}


@pytest.mark.parametrize("case", sorted(MALICIOUS))
def test_configs_outside_the_allow_list_are_refused_naming_the_key(api_client_for, dirs, case,
                                                                   django_capture_on_commit_callbacks):
    key, config = MALICIOUS[case]
    weights = f.adapter_files(config=f.adapter_config(rank=8))[1]
    with django_capture_on_commit_callbacks() as callbacks:
        resp = post(api_client_for("admin"), config=config, weights=weights)
    body = assert_refused(dirs, callbacks, resp, field="config")
    assert body["detail"].startswith(f"adapter_config.json: {key}:"), body


def test_the_config_peft_writes_is_accepted_and_the_allow_list_knows_modelcores_targets(api_client_for):
    from modelcore.adapters import TARGET_MODULES

    assert config_schema.TARGET_MODULES == TARGET_MODULES
    weights = (DATA_DIR / "finance" / "adapter" / "adapter_model.safetensors").read_bytes()
    resp = post(api_client_for("admin"), config=with_config(), weights=weights)
    assert resp.status_code == 201, resp.json()


def test_a_zipped_config_goes_through_the_same_allow_list(api_client_for, dirs, django_capture_on_commit_callbacks):
    config = with_config(auto_mapping={"base_model_class": "os.system", "parent_library": "os"})
    archive = f.zip_of({"adapter_config.json": config,
                        "adapter_model.safetensors": f.adapter_files(config=f.adapter_config(rank=8))[1]})
    with django_capture_on_commit_callbacks() as callbacks:
        resp = api_client_for("admin").post(
            "/api/v1/adapters/", {"name": "fin-lora", "domain": "finance",
                                  "archive": SimpleUploadedFile("a.zip", archive)}, format="multipart")
    assert "auto_mapping" in assert_refused(dirs, callbacks, resp, field="config")["detail"]


# ------------------------------------------------------------------ refusals of the serializer and the form
def _form_cases():
    config, weights = f.adapter_files()
    return {
        "empty config file": ("config", dict(config=b"", weights=weights)),
        "empty weights file": ("weights", dict(config=config, weights=b"")),
        "200-character name": ("name", dict(config=config, weights=weights, name="a" * 200)),
        "NUL byte in the name": ("name", dict(config=config, weights=weights, name="fin\x00lora")),
        "unknown domain": ("domain", dict(config=config, weights=weights, domain="astrology")),
    }


FORM_CASES = _form_cases()


@pytest.mark.parametrize("case", sorted(FORM_CASES))
def test_api_refusals_of_the_serializer_are_audited(api_client_for, dirs, case, django_capture_on_commit_callbacks):
    field, kwargs = FORM_CASES[case]
    with django_capture_on_commit_callbacks() as callbacks:
        resp = post(api_client_for("admin"), **kwargs)
    assert_refused(dirs, callbacks, resp, field=field)


@pytest.mark.parametrize("case", sorted(FORM_CASES))
def test_page_refusals_of_the_form_are_audited(client, make_user, dirs, case, django_capture_on_commit_callbacks):
    field, kwargs = FORM_CASES[case]
    client.force_login(make_user("admin"))
    data = {"name": kwargs.get("name", "fin-lora"), "domain": kwargs.get("domain", "finance"),
            "config": SimpleUploadedFile("adapter_config.json", kwargs["config"]),
            "weights": SimpleUploadedFile("adapter_model.safetensors", kwargs["weights"])}
    with django_capture_on_commit_callbacks() as callbacks:
        resp = client.post("/adapters/", data)
    assert resp.status_code == 400
    assert AdapterVersion.objects.count() == 0 and leftovers(dirs) == [] and callbacks == []
    event = AuditEvent.objects.get(action=REJECTED)
    assert event.detail["field"] == field and event.via == "web"


def test_refusals_of_a_user_without_the_permission_are_not_uploads(api_client_for, client, make_user):
    """A 403 is not an upload refusal: nothing parsed, nothing audited as one."""
    config, weights = f.adapter_files()
    assert post(api_client_for("analyst"), config=config, weights=weights).status_code == 403
    assert not AuditEvent.objects.filter(action=REJECTED).exists()


# ------------------------------------------------------------------------ the safetensors header's JSON
def _weights_with_header(mutate) -> bytes:
    import struct

    good = f.adapter_files()[1]
    (n,) = struct.unpack("<Q", good[:8])
    header = json.loads(good[8:8 + n])
    return f.raw_safetensors(mutate(header), good[8 + n:])


HEADER_JSON = {
    "nested 100000 deep": (b"[" * 100_000 + b"]" * 100_000, "nested deeper"),
    "metadata key not allowed": (lambda h: {**h, "__metadata__": {"format": "pt", "loader": "os.system"}}, "loader"),
    "metadata value not a string": (lambda h: {**h, "__metadata__": {"format": ["pt"]}}, "format"),
}


@pytest.mark.parametrize("case", sorted(HEADER_JSON))
def test_the_safetensors_header_json_is_checked_too(api_client_for, dirs, case, django_capture_on_commit_callbacks):
    header, words = HEADER_JSON[case]
    weights = (f.raw_safetensors(header, b"") if isinstance(header, bytes) else _weights_with_header(header))
    with django_capture_on_commit_callbacks() as callbacks:
        resp = post(api_client_for("admin"), config=f.adapter_files()[0], weights=weights)
    assert words in assert_refused(dirs, callbacks, resp, field="weights")["detail"]


def test_a_field_name_with_a_nul_byte_is_refused_and_audited(api_client_for, dirs, django_capture_on_commit_callbacks):
    config, weights = f.adapter_files()
    with django_capture_on_commit_callbacks() as callbacks:
        resp = post(api_client_for("admin"), config=config, weights=weights, **{"x\x00y": "1"})
    assert resp.status_code == 400 and "x\x00y" in resp.json()["errors"]
    assert AdapterVersion.objects.count() == 0 and leftovers(dirs) == [] and callbacks == []
    assert AuditEvent.objects.get(action=REJECTED).detail["field"] == "x\\x00y"  # escaped: jsonb holds no NUL
