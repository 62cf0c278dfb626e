"""Uploading adapters: every bad file is a 4xx naming the problem, with nothing stored and one audit event."""
import json
import struct

import pytest
import torch
from django.core.files.uploadedfile import SimpleUploadedFile
from safetensors.torch import save as safetensors_save

from apps.accounts.models import AuditEvent
from apps.adapters.models import AdapterVersion
from tests.apps.adapters import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    settings.PLUMBLINE_DATA_DIR = tmp_path
    return tmp_path


def blobs(data_dir):
    return sorted(p.name for p in (data_dir / "adapters" / "blobs").rglob("*") if p.is_file())


def post_files(client, config: bytes, weights: bytes, *, name="fin-lora", domain="finance", weights_name="adapter_model.safetensors"):
    return client.post(
        "/api/v1/adapters/",
        {
            "name": name, "domain": domain,
            "config": SimpleUploadedFile("adapter_config.json", config),
            "weights": SimpleUploadedFile(weights_name, weights),
        },
        format="multipart",
    )


def post_zip(client, archive: bytes, *, name="fin-lora"):
    return client.post(
        "/api/v1/adapters/",
        {"name": name, "domain": "finance", "archive": SimpleUploadedFile("adapter.zip", archive)},
        format="multipart",
    )


def test_upload_records_version_metadata_and_stores_content_addressed(api_client_for, data_dir, django_capture_on_commit_callbacks):
    admin = api_client_for("admin")
    config, weights = f.adapter_files()
    with django_capture_on_commit_callbacks() as callbacks:
        resp = post_files(admin, config, weights)
    assert resp.status_code == 201, resp.json()
    body = resp.json()
    assert (body["label"], body["domain"], body["rank"], body["target_modules"]) == ("fin-lora@1", "finance", 4, ["q_proj", "v_proj"])
    assert body["base_model"] == f.BASE and body["size_bytes"] == len(weights) and body["uploaded_by"] == admin.user.username
    assert body["eval_status"] == "pending" and len(callbacks) == 1  # evaluation queued
    import hashlib

    assert body["sha256"] == hashlib.sha256(weights).hexdigest()
    assert blobs(data_dir) == sorted([hashlib.sha256(weights).hexdigest(), hashlib.sha256(config).hexdigest()])

    # New bytes under the same name: the next version. The same bytes again: recognised, not stored twice.
    resp2 = post_files(admin, *f.adapter_files(seed=1))
    assert resp2.status_code == 201 and resp2.json()["label"] == "fin-lora@2"
    again = post_files(admin, config, weights, name="other-name")
    assert again.status_code == 200 and again.json()["duplicate"] is True and again.json()["label"] == "fin-lora@1"
    # Three blobs: both versions share one config file, stored once.
    assert AdapterVersion.objects.count() == 2 and len(blobs(data_dir)) == 3


def test_zip_upload(api_client_for):
    config, weights = f.adapter_files()
    archive = f.zip_of({"adapter/adapter_config.json": config, "adapter/adapter_model.safetensors": weights, "adapter/README.md": b"hi"})
    resp = post_zip(api_client_for("admin"), archive)
    assert resp.status_code == 201, resp.json()
    assert resp.json()["label"] == "fin-lora@1"


def _header_lies():
    tensors = f.adapter_tensors(layers=[0])
    good = safetensors_save(tensors)
    (n,) = struct.unpack("<Q", good[:8])
    header = json.loads(good[8 : 8 + n])
    data = good[8 + n :]
    first = next(k for k in header if k != "__metadata__")
    overlapping = json.loads(json.dumps(header))
    second = [k for k in header if k not in ("__metadata__", first)][0]
    overlapping[second]["data_offsets"] = overlapping[first]["data_offsets"]
    out_of_range = json.loads(json.dumps(header))
    out_of_range[first]["data_offsets"] = [0, len(data) + 4096]
    return {
        "length past the end": f.raw_safetensors(header, data, declared_len=10**6 + 5),
        "not JSON": f.raw_safetensors(b"{not json" + b" " * 20, data),
        "overlapping offsets": f.raw_safetensors(overlapping, data),
        "out-of-range offsets": f.raw_safetensors(out_of_range, data),
        "trailing bytes": good + b"\0" * 64,
    }


HEADER_CASES = _header_lies()


@pytest.mark.parametrize("case", sorted(HEADER_CASES))
def test_safetensors_headers_that_lie_are_rejected(api_client_for, data_dir, case, django_capture_on_commit_callbacks):
    config = json.dumps(f.adapter_config()).encode()
    assert_rejected(api_client_for("admin"), data_dir, lambda c: post_files(c, config, HEADER_CASES[case]),
                    field="weights", django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)


def nan_weights():
    tensors = f.adapter_tensors()
    next(iter(tensors.values()))[0, 0] = float("nan")
    return f.adapter_files(tensors=tensors)


def wrong_shape():
    tensors = f.adapter_tensors()
    key = next(k for k in tensors if k.endswith("lora_B.weight"))
    tensors[key] = torch.zeros(tensors[key].shape[0] + 1, 4)
    return f.adapter_files(tensors=tensors)


def too_many_tensors():
    tensors = f.adapter_tensors()
    for i in range(200):
        tensors[f"extra.{i}.lora_A.weight"] = torch.zeros(1)
    return f.adapter_files(tensors=tensors)


def config_with(**extra):
    return f.adapter_files(config=f.adapter_config(**extra))


def deep_config():
    nested = {}
    node = nested
    for _ in range(200):
        node["x"] = {}
        node = node["x"]
    config = f.adapter_config()
    config["deep"] = nested
    return json.dumps(config).encode(), f.adapter_files()[1]


def duplicate_key_config():
    raw = json.dumps(f.adapter_config())
    return ('{"r": 64, ' + raw[1:]).encode(), f.adapter_files()[1]


def huge_config():
    config = f.adapter_config()
    config["padding"] = "x" * (70 * 1024)
    return json.dumps(config).encode(), f.adapter_files()[1]


CONTENT_CASES = {
    "NaN weights": (nan_weights, "weights", "nan"),
    "shape mismatch": (wrong_shape, "weights", "shape"),
    "too many tensors": (too_many_tensors, "weights", "tensors"),
    "unknown target module": (lambda: f.adapter_files(config=f.adapter_config(targets=("q_proj", "c_attn")),
                                                       tensors=f.adapter_tensors()), "config", "c_attn"),
    "DoRA": (lambda: config_with(use_dora=True), "config", "use_dora"),
    "unknown peft_type": (lambda: config_with(peft_type="IA3"), "config", "peft_type"),
    "other base model": (lambda: f.adapter_files(config=f.adapter_config(base="deepseek-ai/deepseek-llm-7b-base")), "config", "base model"),
    "deep JSON": (deep_config, "config", "deep"),
    "duplicate keys": (duplicate_key_config, "config", "duplicate"),
    "config too large": (huge_config, "config", "limit"),  # refused while it streams in (413)
}


@pytest.mark.parametrize("case", sorted(CONTENT_CASES))
def test_bad_adapter_content_is_rejected(api_client_for, data_dir, case, django_capture_on_commit_callbacks):
    make, field, words = CONTENT_CASES[case]
    config, weights = make()
    resp = assert_rejected(api_client_for("admin"), data_dir, lambda c: post_files(c, config, weights), field=field,
                           django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)
    assert words.lower() in resp.json()["detail"].lower(), resp.json()


def test_pickle_weights_are_refused(api_client_for, data_dir, django_capture_on_commit_callbacks):
    config, _ = f.adapter_files()
    resp = assert_rejected(api_client_for("admin"), data_dir,
                           lambda c: post_files(c, config, b"\x80\x04fake pickle", weights_name="adapter_model.bin"),
                           field="file", django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)
    assert "safetensors" in resp.json()["detail"]


ZIP_CASES = {
    "dot-dot": ({"../adapter_config.json": b"{}", "adapter_model.safetensors": b""}, (), ".."),
    "absolute path": ({"/abs/adapter_config.json": b"{}", "adapter_model.safetensors": b""}, (), "absolute"),
    "link": ({"adapter_config.json": b"{}"}, ("adapter_model.safetensors",), "link"),
    "pickle inside": ({"adapter_config.json": b"{}", "adapter_model.bin": b"x"}, (), "pickle"),
    "missing weights": ({"adapter_config.json": b"{}"}, (), "lacks"),
}


@pytest.mark.parametrize("case", sorted(ZIP_CASES))
def test_unsafe_zips_are_rejected(api_client_for, data_dir, case, django_capture_on_commit_callbacks):
    entries, links, words = ZIP_CASES[case]
    archive = f.zip_of(entries, links=links)
    resp = assert_rejected(api_client_for("admin"), data_dir, lambda c: post_zip(c, archive), field="file",
                           django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)
    assert words in resp.json()["detail"]


def test_zip_expanding_past_the_cap_is_rejected(api_client_for, data_dir, settings, django_capture_on_commit_callbacks):
    settings.PLUMBLINE_ADAPTER_MAX_BYTES = 200_000
    archive = f.zip_of({"adapter_config.json": b"{}", "adapter_model.safetensors": b"\0" * 5_000_000})
    assert len(archive) < 200_000  # small on the wire, large once expanded
    resp = assert_rejected(api_client_for("admin"), data_dir, lambda c: post_zip(c, archive), field="file",
                           django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)
    assert "expands past" in resp.json()["detail"]


def assert_rejected(client, data_dir, send, *, field, django_capture_on_commit_callbacks):
    before_audit = AuditEvent.objects.filter(action="adapter.upload_rejected").count()
    with django_capture_on_commit_callbacks() as callbacks:
        resp = send(client)
    assert 400 <= resp.status_code < 500, resp.content
    body = resp.json()
    assert field in body["errors"], body
    assert AdapterVersion.objects.count() == 0
    assert blobs(data_dir) == []
    assert callbacks == []
    assert AuditEvent.objects.filter(action="adapter.upload_rejected").count() == before_audit + 1
    return resp


def test_only_admins_upload_and_everyone_with_a_role_can_list(api_client_for):
    config, weights = f.adapter_files()
    analyst = api_client_for("analyst")
    assert post_files(analyst, config, weights).status_code == 403
    assert analyst.get("/api/v1/adapters/").status_code == 200
    assert AdapterVersion.objects.count() == 0
