"""Demo data for the medical app, created by `manage.py seed_demo` (idempotent)."""
from __future__ import annotations

from collections.abc import Callable


def demo_medical_seed(*, log: Callable[[str], object]) -> bool:
    """Create the demo data if missing; True when something was created. Filled in by the medical issue."""
    return False
