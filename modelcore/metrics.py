"""Prometheus metric families of a running Engine, from its `EngineStats`: one definition shared by the Django
workers' collector (apps/monitoring/metrics.py) and `modelcore serve`'s /metrics (modelcore/serve/app.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

ENGINE_METRIC_NAMES = frozenset({
    "plumbline_engine_running_requests", "plumbline_engine_waiting_requests", "plumbline_engine_max_batch_size",
    "plumbline_engine_batch_occupancy", "plumbline_engine_kv_cache_tokens",
    "plumbline_engine_kv_cache_capacity_tokens", "plumbline_engine_kv_cache_usage", "plumbline_engine_kv_cache_bytes",
    "plumbline_engine_adapters_resident", "plumbline_engine_max_adapters", "plumbline_adapter_loads",
    "plumbline_engine_prefix_cache_bytes", "plumbline_engine_prefix_cache_hit_tokens",
})


def engine_metric_families(stats: Any) -> Iterator[Any]:
    """Gauges and counters of `stats` (a modelcore.engine.EngineStats), as prometheus_client metric families."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    gauges = [
        ("plumbline_engine_running_requests", "Requests in the engine's batch.", stats.running),
        ("plumbline_engine_waiting_requests", "Requests waiting for a batch row.", stats.waiting),
        ("plumbline_engine_max_batch_size", "Batch rows of the engine.", stats.max_batch_size),
        ("plumbline_engine_batch_occupancy", "Share of the engine's batch rows in use (0..1).",
         stats.running / stats.max_batch_size),
        ("plumbline_engine_kv_cache_tokens", "Tokens held in the KV cache.", stats.kv_tokens),
        ("plumbline_engine_kv_cache_capacity_tokens", "Tokens the KV cache may hold (rows x context).",
         stats.kv_capacity_tokens),
        ("plumbline_engine_kv_cache_usage", "Share of the KV cache's token capacity in use (0..1).",
         stats.kv_tokens / stats.kv_capacity_tokens if stats.kv_capacity_tokens else 0.0),
        ("plumbline_engine_kv_cache_bytes", "Bytes the KV cache has allocated.", stats.kv_bytes),
        ("plumbline_engine_adapters_resident", "LoRA adapters resident in the engine.", stats.adapters_resident),
        ("plumbline_engine_max_adapters", "LoRA adapter slots of the engine.", stats.max_adapters),
        ("plumbline_engine_prefix_cache_bytes", "Bytes of shared prompt-prefix KV the engine keeps.",
         stats.prefix_cache_bytes),
    ]
    for name, doc, value in gauges:
        yield GaugeMetricFamily(name, doc, value=value)
    loads = CounterMetricFamily("plumbline_adapter_loads", "LoRA adapters read into an engine slot.",
                                labels=["result"])
    loads.add_metric(["ok"], stats.adapter_loads)
    loads.add_metric(["failed"], stats.adapter_load_failures)
    yield loads
    yield CounterMetricFamily("plumbline_engine_prefix_cache_hit_tokens",
                              "Prompt tokens whose KV came from the prefix cache instead of a prefill.",
                              value=stats.prefix_cache_hit_tokens)
