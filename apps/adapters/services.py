"""Writes of the adapter registry: upload (validate -> store -> evaluate), activate, roll back."""
from __future__ import annotations

import re

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from apps.accounts.audit import audit_log
from apps.adapters import config_schema, storage, strict_json, upload
from apps.adapters.models import AdapterActivation, AdapterVersion
from apps.adapters.safetensors_header import HeaderError, parse_header_file
from apps.adapters.selectors import active_activation
from apps.adapters.upload import AdapterFiles, UploadError
from apps.core.domains import Domain
from apps.core.exceptions import ApplicationError
from apps.generation import model_api

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


def adapter_upload_refuse(
    *, actor, request, name: str, message: str, field: str, status: int = 400
) -> ApplicationError:
    """One audit event per refused upload (whoever refused it: the size limit, the serializer or form, or the
    checks here), then the error to raise. Nothing else is written. The event names the field; it keeps the
    adapter name only when the name is valid (a refused name may hold anything, even a NUL byte)."""
    audit_log(
        actor=actor, action="adapter.upload_rejected", object_type="adapters.adapterversion", object_id="",
        request=request,
        detail={"name": name if NAME_RE.match(name or "") else "", "field": strict_json.printable(field, limit=200)},
    )
    return ApplicationError(message, field=field, status=status)


def adapter_upload_limits() -> dict[str, int]:
    """The most bytes each file field of an upload may hold (enforced while the body streams in)."""
    return {
        "config": settings.PLUMBLINE_ADAPTER_MAX_CONFIG_BYTES,
        "weights": settings.PLUMBLINE_ADAPTER_MAX_BYTES,
        "archive": settings.PLUMBLINE_ADAPTER_MAX_BYTES,
    }


def adapter_validate(*, name: str, domain: str, files: AdapterFiles) -> model_api.AdapterSpec:
    """Every check that needs no database: raises UploadError / ValueError naming the problem."""
    if not NAME_RE.match(name):
        raise UploadError("name must be 1-64 lowercase letters, digits or '-', starting with a letter or digit", field="name")
    if domain not in Domain.values:
        raise UploadError(f"domain must be one of {', '.join(Domain.values)}", field="domain")
    try:  # the allow-list first: nothing else reads a config that holds a key or value it does not list
        config_schema.validate(files.config)
    except config_schema.ConfigError as exc:
        raise UploadError(f"adapter_config.json: {exc}", field="config") from exc
    try:
        spec = model_api.adapter_config_parse(files.config)
    except ValueError as exc:
        raise UploadError(f"adapter_config.json: {exc}", field="config") from exc
    deployed = settings.PLUMBLINE_MODEL
    if not model_api.same_base_model(spec.base_model, deployed):
        raise UploadError(
            f"adapter was trained on base model {spec.base_model!r}, not the deployed {deployed!r}", field="config"
        )
    base = model_api.deployed_model_config()
    try:
        parse_header_file(files.weights, max_tensors=2 * len(spec.target_modules) * base.num_hidden_layers)
    except HeaderError as exc:
        raise UploadError(f"adapter_model.safetensors: {exc}", field="weights") from exc
    try:
        model_api.adapter_weights_check(files.config, files.weights)
    except ValueError as exc:
        raise UploadError(f"adapter_model.safetensors: {exc}", field="weights") from exc
    return spec


def adapter_upload(
    *, uploaded_by, name: str, domain: str, config=None, weights=None, archive=None, request=None,
    queue_evaluation: bool = True,
) -> tuple[AdapterVersion, bool]:
    """Read the upload (two files or one zip), validate, store content-addressed, record the next version,
    queue its evaluation (unless the caller evaluates it itself). Returns (version, created); the same bytes
    again return the existing version.
    """
    limits = {"max_bytes": settings.PLUMBLINE_ADAPTER_MAX_BYTES,
              "max_config_bytes": settings.PLUMBLINE_ADAPTER_MAX_CONFIG_BYTES}
    try:
        with upload.read(config_file=config, weights_file=weights, archive=archive,
                         tmp_dir=settings.FILE_UPLOAD_TEMP_DIR, **limits) as files:
            spec = adapter_validate(name=name, domain=domain, files=files)
            return _store(uploaded_by=uploaded_by, name=name, domain=domain, files=files, spec=spec,
                          request=request, queue_evaluation=queue_evaluation)
    except UploadError as exc:
        raise adapter_upload_refuse(
            actor=uploaded_by, request=request, name=name, message=str(exc), field=exc.field
        ) from exc


def _store(*, uploaded_by, name, domain, files: AdapterFiles, spec, request, queue_evaluation):
    weights_sha, config_sha = storage.sha256_of_file(files.weights), storage.sha256_of(files.config)
    existing = AdapterVersion.objects.filter(sha256=weights_sha, config_sha256=config_sha).first()
    if existing is not None:
        audit_log(actor=uploaded_by, action="adapter.upload_duplicate", obj=existing, request=request)
        return existing, False

    created_blobs = []
    try:
        for data in (files.config, files.weights):
            digest, created = storage.put(data)
            if created:
                created_blobs.append(digest)
        with transaction.atomic():
            version = _create_version(
                uploaded_by=uploaded_by, name=name, domain=domain, spec=spec, size=files.weights.stat().st_size,
                weights_sha=weights_sha, config_sha=config_sha, request=request, queue_evaluation=queue_evaluation,
            )
    except BaseException:
        for digest in created_blobs:  # leave no file behind a failed upload
            storage.remove(digest)
        raise
    return version, True


def _create_version(
    *, uploaded_by, name, domain, spec, size, weights_sha, config_sha, request, queue_evaluation
) -> AdapterVersion:
    from apps.adapters.tasks import evaluate_adapter_version

    # Lock the name's rows so two uploads of one name cannot take the same version number.
    list(AdapterVersion.objects.select_for_update().filter(name=name).values_list("id", flat=True))
    latest = AdapterVersion.objects.filter(name=name).aggregate(v=Max("version"))["v"] or 0
    version = AdapterVersion.objects.create(
        name=name, version=latest + 1, domain=domain, base_model=spec.base_model, rank=spec.rank,
        alpha=spec.alpha, target_modules=sorted(spec.target_modules), size_bytes=size, sha256=weights_sha,
        config_sha256=config_sha, uploaded_by=uploaded_by,
    )
    audit_log(actor=uploaded_by, action="adapter.upload", obj=version, request=request,
              detail={"label": version.label, "sha256": weights_sha})
    if queue_evaluation:
        transaction.on_commit(lambda: evaluate_adapter_version.delay(version.pk))
    return version


@transaction.atomic
def adapter_activate(*, version: AdapterVersion, actor, override_reason: str = "", request=None) -> AdapterActivation:
    """Make `version` serve its domain. Refused while unevaluated, or when it makes the general set worse
    than the forgetting margin, unless an admin gives a reason (which is audited)."""
    version = AdapterVersion.objects.select_for_update().get(pk=version.pk)
    if version.eval_status != AdapterVersion.EvalStatus.DONE:
        raise ApplicationError(f"{version.label} has not been evaluated ({version.eval_status})", status=409)
    current = active_activation(domain=version.domain)
    if current is not None and current.adapter_id == version.pk:
        raise ApplicationError(f"{version.label} is already active for {version.domain}", status=409)
    regression = version.general_regression
    margin = settings.PLUMBLINE_FORGETTING_MARGIN
    override_reason = override_reason.strip()
    if regression is not None and regression > margin and not override_reason:
        raise ApplicationError(
            f"{version.label} raises the general-set loss by {regression:.1%}, more than the {margin:.1%} margin; "
            "give an override reason to activate it anyway",
            field="override_reason", status=409,
        )
    activation = AdapterActivation.objects.create(
        domain=version.domain, adapter=version, kind=AdapterActivation.Kind.ACTIVATE, actor=actor,
        override_reason=override_reason if regression is not None and regression > margin else "",
    )
    audit_log(actor=actor, action="adapter.activate", obj=version, request=request,
              detail={"domain": version.domain, "override": bool(activation.override_reason)})
    _push_on_commit(version)
    return activation


def _push_on_commit(version: AdapterVersion | None) -> None:
    """With a model server (PLUMBLINE_BACKEND=openai), have it load the version that now serves its domain once this
    transaction commits, before the first job asks for it (the backend also loads it on demand, e.g. after a server
    restart). In process there is nothing to push: the engine loads an adapter when a request names it."""
    if version is None or settings.PLUMBLINE_BACKEND.strip().lower() != "openai":
        return
    from apps.adapters.tasks import push_adapter_to_backend

    transaction.on_commit(lambda: push_adapter_to_backend.delay(version.pk))


@transaction.atomic
def adapter_rollback(*, version: AdapterVersion, actor, request=None) -> AdapterActivation:
    """Serve the version that was active before this one (the base model when there was none).

    The history replays as a stack: an activation pushes its version, a rollback pops one, so rolling back
    twice goes two activations back rather than bouncing between the last two.
    """
    history = list(AdapterActivation.objects.select_for_update().filter(domain=version.domain).order_by("at", "id"))
    stack: list[AdapterVersion | None] = []
    for row in history:
        if row.kind == AdapterActivation.Kind.ACTIVATE:
            stack.append(row.adapter)
        elif stack:
            stack.pop()
    if not stack or stack[-1] is None or stack[-1].pk != version.pk:
        raise ApplicationError(f"{version.label} is not the active adapter of {version.domain}", status=409)
    stack.pop()
    previous = stack[-1] if stack else None
    activation = AdapterActivation.objects.create(
        domain=version.domain, adapter=previous, kind=AdapterActivation.Kind.ROLLBACK, actor=actor, at=timezone.now()
    )
    audit_log(actor=actor, action="adapter.rollback", obj=version, request=request,
              detail={"domain": version.domain, "now": previous.label if previous else "base"})
    _push_on_commit(previous)
    return activation
