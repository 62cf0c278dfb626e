"""The shipped synthetic evaluation sets (see data/adapters/README.md)."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from django.conf import settings

DATA_DIR = Path(settings.BASE_DIR) / "data" / "adapters"


@lru_cache(maxsize=8)
def rows(domain: str, split: str = "heldout") -> tuple[dict, ...]:
    path = DATA_DIR / domain / f"{split}.jsonl"
    with open(path) as fh:
        return tuple(json.loads(line) for line in fh if line.strip())
