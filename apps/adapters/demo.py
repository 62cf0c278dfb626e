"""The demo adapters shipped in data/adapters/<domain>/adapter/ (trained on the synthetic sets)."""
from __future__ import annotations

from django.core.files import File

from apps.adapters.datasets import DATA_DIR
from apps.adapters.evaluation import adapter_evaluate
from apps.adapters.models import AdapterVersion
from apps.adapters.services import adapter_activate, adapter_upload
from apps.core.exceptions import ApplicationError

DEMO_DOMAINS = ("finance", "medical")
DEMO_EVAL_ROWS = 16  # a quicker first start; uploads through the registry use PLUMBLINE_ADAPTER_EVAL_ROWS


def demo_adapters_seed(*, admin, log=print) -> list[AdapterVersion]:
    """Register, evaluate (here, not on a worker) and activate each shipped adapter once; idempotent."""
    seeded = []
    for domain in DEMO_DOMAINS:
        source = DATA_DIR / domain / "adapter"
        name = f"{domain}-demo"
        if not (source / "adapter_model.safetensors").is_file() or AdapterVersion.objects.filter(name=name).exists():
            continue
        with open(source / "adapter_config.json", "rb") as cfg, open(source / "adapter_model.safetensors", "rb") as w:
            version, _ = adapter_upload(
                uploaded_by=admin, name=name, domain=domain, queue_evaluation=False,
                config=File(cfg, name="adapter_config.json"), weights=File(w, name="adapter_model.safetensors"),
            )
        log(f"evaluating demo adapter {version.label} (held-out {domain} and general sets)...")
        version = adapter_evaluate(version_id=version.pk, max_rows=DEMO_EVAL_ROWS)
        try:
            adapter_activate(version=version, actor=admin)
            log(f"{version.label} serves {domain}: {domain} loss {version.domain_loss_base:.3f} -> "
                f"{version.domain_loss_adapter:.3f}, general {version.general_loss_base:.3f} -> {version.general_loss_adapter:.3f}")
        except ApplicationError as exc:
            log(f"{version.label} not activated: {exc.message}")
        seeded.append(version)
    return seeded
