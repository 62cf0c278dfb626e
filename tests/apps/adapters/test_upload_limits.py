"""Upload size limits are enforced while the body streams in: the request is refused (413 naming the field)
after at most a chunk past the limit, not after reading it whole.

"Stops reading" is measured two ways: in process, with Django's request handler reading a generated body that
counts the bytes taken from it; and against a real gunicorn process, with a client that sends part of a body
and then waits (a server that read the whole body before checking would wait for the rest forever).
"""
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.signals import request_finished
from django.db import close_old_connections
from django.test.client import ClientHandler

from apps.accounts.models import AuditEvent
from apps.adapters.models import AdapterVersion
from apps.finance.importers import MAX_IMPORT_BYTES
from tests.apps.adapters import factories as f
from tests.apps.adapters.conftest import leftovers

REPO = Path(__file__).resolve().parents[3]
REJECTED = "adapter.upload_rejected"
SLACK = 256 * 1024  # the multipart parser reads 64 KiB chunks: a few of them past the limit, never the rest


# ---------------------------------------------------------------------- a multipart body that counts its reads
BOUNDARY = "plumbline-test-boundary"


def part(name: str, value: bytes, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    ctype = "Content-Type: application/octet-stream\r\n" if filename else ""
    return f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n{ctype}\r\n".encode() + value + b"\r\n"


class CountingBody:
    """`head`, then `filler_size` zero bytes, then the closing boundary: produced on demand, reads counted."""

    def __init__(self, head: bytes, filler_size: int):
        self.head, self.filler_size, self.tail = head, filler_size, f"\r\n--{BOUNDARY}--\r\n".encode()
        self.length = len(head) + filler_size + len(self.tail)
        self.read_bytes = 0

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = self.length - self.read_bytes
        out = bytearray()
        while len(out) < size and self.read_bytes < self.length:
            pos, want = self.read_bytes, size - len(out)
            if pos < len(self.head):
                chunk = self.head[pos:pos + want]
            elif pos < len(self.head) + self.filler_size:
                chunk = bytes(min(want, len(self.head) + self.filler_size - pos))
            else:
                start = pos - len(self.head) - self.filler_size
                chunk = self.tail[start:start + want]
            out += chunk
            self.read_bytes += len(chunk)
        return bytes(out)

    def readline(self, size: int = -1) -> bytes:  # WSGI asks for it; the multipart parser does not use it
        return self.read(size)


def stream_post(path: str, body: CountingBody, *, token: str | None = None, user=None):
    """POST through Django's own request handler (middleware, auth, views) with `body` as wsgi.input."""
    environ = {
        "REQUEST_METHOD": "POST", "PATH_INFO": path, "SCRIPT_NAME": "", "QUERY_STRING": "",
        "SERVER_NAME": "testserver", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_HOST": "testserver",
        "REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http", "wsgi.input": body, "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0), "wsgi.multithread": False, "wsgi.multiprocess": False, "wsgi.run_once": False,
        "CONTENT_TYPE": f"multipart/form-data; boundary={BOUNDARY}", "CONTENT_LENGTH": str(body.length),
    }
    if token:
        environ["HTTP_AUTHORIZATION"] = f"Token {token}"
    response = ClientHandler()(environ)
    # Closing the response closes the request's uploaded files (as the test client does, without letting
    # request_finished close the test's database connection).
    request_finished.disconnect(close_old_connections)
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)
    return response


def adapter_head(field: str = "weights") -> bytes:
    config = json.dumps(f.adapter_config()).encode()
    head = part("name", b"fin-lora") + part("domain", b"finance")
    if field != "config":
        head += part("config", config, "adapter_config.json")
    names = {"weights": "adapter_model.safetensors", "archive": "adapter.zip", "config": "adapter_config.json"}
    return head + f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{names[field]}\"\r\n" \
                  f"Content-Type: application/octet-stream\r\n\r\n".encode()


def token_for(role: str, make_user) -> tuple[object, str]:
    from apps.accounts.services import api_token_create

    user = make_user(role)
    return user, api_token_create(user=user, name="tests")


# ------------------------------------------------------------------------------------------- in process
@pytest.mark.django_db
@pytest.mark.parametrize("field", ["weights", "archive", "config"])
def test_an_adapter_file_over_its_limit_stops_the_upload(make_user, settings, dirs, field,
                                                         django_capture_on_commit_callbacks):
    settings.PLUMBLINE_ADAPTER_MAX_BYTES = 300_000
    limit = settings.PLUMBLINE_ADAPTER_MAX_CONFIG_BYTES if field == "config" else 300_000
    _, token = token_for("admin", make_user)
    body = CountingBody(adapter_head(field), 1_000_000)  # under PLUMBLINE_MAX_REQUEST_BYTES: the view decides
    with django_capture_on_commit_callbacks() as callbacks:
        resp = stream_post("/api/v1/adapters/", body, token=token)
    assert resp.status_code == 413, resp.content
    assert field in json.loads(resp.content)["errors"] and str(limit) in json.loads(resp.content)["detail"]
    assert body.read_bytes < len(adapter_head(field)) + limit + SLACK < body.length
    assert AdapterVersion.objects.count() == 0 and callbacks == []
    assert leftovers(dirs) == []  # the partial file, and the config that came before it, are deleted
    event = AuditEvent.objects.get(action=REJECTED)
    assert event.detail["field"] == field


@pytest.mark.django_db
def test_the_adapters_page_refuses_a_file_over_its_limit(client, make_user, settings, dirs,
                                                         django_capture_on_commit_callbacks):
    settings.PLUMBLINE_ADAPTER_MAX_BYTES = 100_000
    client.force_login(make_user("admin"))
    config, _ = f.adapter_files()
    with django_capture_on_commit_callbacks() as callbacks:
        resp = client.post("/adapters/", {
            "name": "fin-lora", "domain": "finance", "config": SimpleUploadedFile("adapter_config.json", config),
            "weights": SimpleUploadedFile("adapter_model.safetensors", bytes(200_000))})
    assert resp.status_code == 413 and "larger than the 100000-byte limit" in resp.content.decode()
    assert AdapterVersion.objects.count() == 0 and callbacks == [] and leftovers(dirs) == []
    event = AuditEvent.objects.get(action=REJECTED)
    assert (event.detail["field"], event.via) == ("weights", "web")


@pytest.mark.django_db
def test_a_file_in_a_field_that_takes_none_is_refused_before_it_is_read(make_user, dirs):
    _, token = token_for("admin", make_user)
    head = part("name", b"fin-lora") + (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"extra\"; "
                                          f"filename=\"x.bin\"\r\n\r\n").encode()
    body = CountingBody(head, 1_000_000)
    resp = stream_post("/api/v1/adapters/", body, token=token)
    assert resp.status_code == 400 and "extra" in json.loads(resp.content)["errors"]
    assert body.read_bytes < len(head) + SLACK
    assert AuditEvent.objects.filter(action=REJECTED).count() == 1


@pytest.mark.django_db
def test_a_non_admin_upload_is_refused_before_its_body_is_read(make_user, dirs):
    _, token = token_for("analyst", make_user)
    body = CountingBody(adapter_head(), 1_000_000)
    resp = stream_post("/api/v1/adapters/", body, token=token)
    assert resp.status_code == 403 and body.read_bytes == 0


@pytest.mark.django_db
def test_a_content_length_above_the_global_cap_is_refused_unread(settings, make_user):
    settings.PLUMBLINE_MAX_REQUEST_BYTES = 500_000
    _, token = token_for("admin", make_user)
    body = CountingBody(adapter_head(), 600_000)
    resp = stream_post("/api/v1/adapters/", body, token=token)
    assert resp.status_code == 413 and body.read_bytes == 0
    assert json.loads(resp.content)["code"] == "too_large"


@pytest.mark.django_db
def test_a_statements_file_over_8_mib_stops_the_upload(make_user, dirs):
    from tests.apps.finance.test_companies_factories import analyst, company, team

    user = analyst(make_user, team())
    from apps.accounts.services import api_token_create

    token, c = api_token_create(user=user, name="tests"), company(user)
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"facts.json\"\r\n"
            f"Content-Type: application/json\r\n\r\n").encode()
    body = CountingBody(head, MAX_IMPORT_BYTES * 3)
    resp = stream_post(f"/api/v1/finance/companies/{c.pk}/statements/", body, token=token)
    assert resp.status_code == 413, resp.content
    assert "file" in json.loads(resp.content)["errors"]
    assert body.read_bytes < len(head) + MAX_IMPORT_BYTES + SLACK
    assert leftovers(dirs) == []


@pytest.mark.django_db
def test_a_statements_upload_with_a_file_in_another_field_is_refused(make_user, dirs):
    from apps.accounts.services import api_token_create
    from tests.apps.finance.test_companies_factories import analyst, company, team

    user = analyst(make_user, team())
    token, c = api_token_create(user=user, name="tests"), company(user)
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"evil\"; filename=\"x.bin\"\r\n\r\n").encode()
    body = CountingBody(head, 1_000_000)
    resp = stream_post(f"/api/v1/finance/companies/{c.pk}/statements/", body, token=token)
    assert resp.status_code == 400 and "evil" in json.loads(resp.content)["errors"]
    assert body.read_bytes < len(head) + SLACK


@pytest.mark.django_db
def test_the_statements_page_stops_the_upload_too(client, make_user, dirs):
    from tests.apps.finance.test_companies_factories import analyst, company, team

    user = analyst(make_user, team())
    c = company(user)
    client.force_login(user)
    big = SimpleUploadedFile("facts.json", b" " * (MAX_IMPORT_BYTES + 1))
    resp = client.post(f"/finance/companies/{c.pk}/import/", {"file": big})
    assert resp.status_code == 413
    assert str(MAX_IMPORT_BYTES) in resp.content.decode()


# --------------------------------------------------------------------------------------- a real server
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def gunicorn(tmp_path):
    from django.conf import settings

    db = settings.DATABASES["default"]
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "PLUMBLINE_DATA_DIR": str(tmp_path / "data"),
        "PLUMBLINE_ADAPTER_MAX_BYTES": "300000",
        "TMPDIR": str(tmp_path / "uploads"),
    }
    (tmp_path / "uploads").mkdir()
    log = open(tmp_path / "gunicorn.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{port}", "-w", "1", "--threads", "2", "-t", "60",
         "config.wsgi:application"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            assert proc.poll() is None, (tmp_path / "gunicorn.log").read_text()
            time.sleep(0.2)
    yield port
    proc.terminate()
    proc.wait(timeout=20)
    log.close()


@pytest.mark.django_db(transaction=True)
def test_a_real_server_answers_413_without_waiting_for_the_rest_of_the_body(gunicorn, make_user, tmp_path):
    _, token = token_for("admin", make_user)
    head = adapter_head()
    declared = len(head) + 1_000_000 + 64  # under the global cap; the weights field's limit is 300000
    sock = socket.create_connection(("127.0.0.1", gunicorn), timeout=15)
    sock.sendall((f"POST /api/v1/adapters/ HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Token {token}\r\n"
                  f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {declared}\r\n"
                  f"\r\n").encode() + head)
    sent = 0
    while sent < 500_000:  # past the limit, then nothing more: the rest of the body never comes
        sock.sendall(bytes(50_000))
        sent += 50_000
    response = b""
    try:
        while b"\r\n\r\n" not in response or not response.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            response += chunk
    except TimeoutError:
        pytest.fail(f"no answer within 15 s: the server waits for the rest of the body ({response[:200]!r})")
    finally:
        sock.close()
    assert response.startswith(b"HTTP/1.1 413"), response[:300]
    assert b'"weights"' in response
    assert AdapterVersion.objects.count() == 0
    assert AuditEvent.objects.filter(action=REJECTED).count() == 1
    deadline = time.monotonic() + 5  # the server closes (so deletes) the request's files just after answering
    while leftovers(tmp_path / "uploads") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert leftovers(tmp_path / "uploads") == []


@pytest.mark.django_db
def test_the_upload_pages_still_check_csrf(make_user, dirs):
    """The pages set their upload limits before CSRF reads the body, and CSRF is still checked after."""
    from django.test import Client

    from tests.apps.finance.test_companies_factories import analyst, company, team

    user = analyst(make_user, team(), role="admin")
    c = company(user)
    web = Client(enforce_csrf_checks=True)
    web.force_login(user)
    config, weights = f.adapter_files()
    files = {"name": "fin-lora", "domain": "finance", "config": SimpleUploadedFile("adapter_config.json", config),
             "weights": SimpleUploadedFile("adapter_model.safetensors", weights)}
    assert web.post("/adapters/", files).status_code == 403
    assert web.post(f"/finance/companies/{c.pk}/import/", {"file": SimpleUploadedFile("a.csv", b"x")}).status_code == 403
    web.get("/adapters/")
    token = web.cookies["csrftoken"].value
    for upload in ("config", "weights"):
        files[upload].seek(0)
    assert web.post("/adapters/", {**files, "csrfmiddlewaretoken": token}).status_code == 302
    assert AdapterVersion.objects.count() == 1 and not AuditEvent.objects.filter(action=REJECTED).exists()


@pytest.mark.django_db
def test_the_weights_are_never_held_in_memory_whole(make_user, dirs):
    """Python allocations while a ~10 MB adapter is checked and stored stay far below its size: the weights go
    from the upload's file to a temporary copy to the blob store a chunk at a time (torch's tensors, allocated
    outside Python's allocator, are not counted: the modelcore check loads them as serving will)."""
    import tracemalloc

    from django.core.files import File

    from apps.adapters.services import adapter_upload

    targets = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    config, weights = f.adapter_files(config=f.adapter_config(rank=8, targets=targets))
    assert len(weights) > 9_000_000
    src = dirs / "src"
    src.mkdir()
    (src / "adapter_config.json").write_bytes(config)
    (src / "adapter_model.safetensors").write_bytes(weights)
    del weights
    admin = make_user("admin")
    with open(src / "adapter_config.json", "rb") as cfg, open(src / "adapter_model.safetensors", "rb") as w:
        tracemalloc.start()
        try:
            version, created = adapter_upload(
                uploaded_by=admin, name="fin-lora", domain="finance", queue_evaluation=False,
                config=File(cfg, name="adapter_config.json"), weights=File(w, name="adapter_model.safetensors"))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert created and version.size_bytes > 9_000_000
    assert peak < version.size_bytes / 3, f"peak Python allocation {peak} bytes for a {version.size_bytes}-byte upload"
