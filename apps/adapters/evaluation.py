"""Evaluate an uploaded adapter version: held-out loss of its domain and of the general set, base vs adapter."""
from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from apps.accounts.audit import audit_log
from apps.adapters import datasets, storage
from apps.adapters.models import AdapterVersion
from apps.generation import model_api

log = logging.getLogger(__name__)
Status = AdapterVersion.EvalStatus


@transaction.atomic
def _claim(version_id: int) -> AdapterVersion | None:
    version = AdapterVersion.objects.select_for_update().filter(pk=version_id).first()
    if version is None or version.eval_status == Status.DONE:
        return None  # a redelivered task of a finished evaluation
    version.eval_status, version.eval_error = Status.RUNNING, ""
    version.save(update_fields=["eval_status", "eval_error"])
    return version


def adapter_evaluate(*, version_id: int, max_rows: int | None = None) -> AdapterVersion | None:
    version = _claim(version_id)
    if version is None:
        return None
    sets = {"domain": datasets.rows(version.domain), "general": datasets.rows("general")}
    try:
        directory = storage.adapter_dir(config_sha256=version.config_sha256, weights_sha256=version.sha256)
        losses = model_api.adapter_eval_losses(adapter_dir=directory, sets=sets, max_rows=max_rows)
    except Exception as exc:  # the evaluation failed: say so on the version, never leave it "running"
        log.exception("evaluation of adapter version %s failed", version_id)
        version.eval_status, version.eval_error = Status.FAILED, f"{type(exc).__name__}: {exc}"[:4000]
        version.save(update_fields=["eval_status", "eval_error"])
        audit_log(actor=None, action="adapter.evaluate_failed", obj=version, via="worker")
        return version
    version.domain_loss_base, version.domain_loss_adapter = losses["domain"]
    version.general_loss_base, version.general_loss_adapter = losses["general"]
    version.eval_status, version.evaluated_at = Status.DONE, timezone.now()
    version.save()
    audit_log(actor=None, action="adapter.evaluate", obj=version, via="worker",
              detail={"general_regression": round(version.general_regression or 0.0, 6)})
    return version
