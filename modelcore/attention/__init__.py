"""Attention implementations behind one interface (`attention(q, k, v, mask, *, scale, impl)`)."""

from .dense import ATTENTION_IMPLS, attention, eager_attention, repeat_kv, sdpa_attention

__all__ = ["ATTENTION_IMPLS", "attention", "eager_attention", "repeat_kv", "sdpa_attention"]
