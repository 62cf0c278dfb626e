"""The capacity planner against hand-computed roofline numbers.

Every expected figure below is written out from datasheet numbers and the model's config.json shape (h, i, L,
heads, vocab), not from the planner's helpers: bytes = weights x bytes per weight, time = bytes / (bandwidth x
efficiency), FLOPs / (peak x efficiency), ring all-reduce = latency + 2 (tp-1)/tp x message / (link/2).
The GPU efficiency factors (0.7 bandwidth, 0.5 compute) and all-reduce latencies (10 us NVLink, 30 us PCIe) are
the planner's documented assumptions; a test checks they are what the hand computations use.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from modelcore import planner
from modelcore.__main__ import main as cli_main
from modelcore.planner import HARDWARE, PlanError, plan

REPO = Path(__file__).resolve().parents[2]
E_BW, E_C = 0.7, 0.5  # GPU efficiency assumptions
LAT_NVLINK, LAT_PCIE = 10e-6, 30e-6

# deepseek-llm-7b-base config.json: h 4096, i 11008, 30 layers, 32 heads (no GQA), vocab 102400, untied.
H7, I7, L7, V7 = 4096, 11008, 30, 102400
LAYER7 = 4 * H7 * H7 + 3 * H7 * I7  # q, k, v, o (all 4096 x 4096) + gate, up, down
NORMS7 = (2 * L7 + 1) * H7  # two RMSNorm weights per layer + the final one
KV7_BF16 = 2 * L7 * H7 * 2  # K and V, 32 heads x 128, bf16: 491,520 bytes per token
# deepseek-llm-67b-base: h 8192, i 22016, 95 layers, 64 heads, 8 KV heads (GQA), head_dim 128.
H67, I67, L67, V67, KV67 = 8192, 22016, 95, 102400, 8 * 128
KV67_BF16 = 2 * L67 * KV67 * 2  # 389,120 bytes per token
# smollm2-135m-instruct: h 576, i 1536, 30 layers, 9 heads, 3 KV heads, head_dim 64, vocab 49152, tied.
HS, IS, LS, VS, KVS = 576, 1536, 30, 49152, 3 * 64


def int8_bytes(rows, cols):  # one byte per weight + a bf16 scale per output row
    return rows * cols + 2 * rows


def int4_bytes(rows, cols, g=64):  # half a byte per weight + bf16 scale and zero per group of g inputs
    return rows * cols / 2 + 4 * rows * math.ceil(cols / g)


def layer67(fmt):
    return (2 * fmt(H67, H67) + 2 * fmt(KV67, H67)  # q, o; k, v
            + 2 * fmt(I67, H67) + fmt(H67, I67))  # gate, up; down


def act7(batch, tp=1, b=2):  # one layer's working set: (512 + batch) tokens, plus float32 logits per row
    return (512 + batch) * (2 * H7 + (H7 + 2 * H7 + 3 * I7) / tp) * b + batch * V7 / tp * 4


def close(a, b, rel=1e-9):
    return a == pytest.approx(b, rel=rel)


def test_gpu_assumptions_are_the_documented_ones():
    for hw in HARDWARE.values():
        assert (hw.bandwidth_efficiency, hw.compute_efficiency) == (E_BW, E_C), hw.key
        assert "assumed" in hw.efficiency_source and hw.source
    assert (planner.NVLINK_ALLREDUCE_LATENCY_S, planner.PCIE_ALLREDUCE_LATENCY_S) == (LAT_NVLINK, LAT_PCIE)


# --- 1. 7B bf16 on one H100 SXM (3,350 GB/s, 989 dense bf16 TFLOPS, 80 GB), chat: batch 1, context 2048 ----------
def test_7b_bf16_on_one_h100():
    p = plan("deepseek-llm-7b-base", "bf16", "h100-sxm", scenario="chat")
    w_read = 2 * (L7 * LAYER7 + V7 * H7) + 2 * NORMS7  # layers + lm_head + norms, 2 bytes each
    t_mem = (w_read + 2048 * KV7_BF16) / (3350e9 * E_BW)
    t_flops = (2 * (L7 * LAYER7 + V7 * H7) + 4 * L7 * 2048 * H7) / (989e12 * E_C)
    assert t_mem > t_flops and p.decode_bound == "memory"
    assert close(p.tokens_per_s_per_stream, 1 / t_mem)  # about 163 tokens/s
    assert 150 < p.tokens_per_s_per_stream < 175
    resident = w_read + V7 * H7 * 2  # + the embedding table (untied)
    assert close(p.weights_gb, resident / 1e9) and close(p.kv_cache_gb, 2048 * KV7_BF16 / 1e9)
    assert close(p.needed_gb, (resident + 2048 * KV7_BF16 + act7(1)) / 1e9)
    assert p.fits and close(p.usable_gb, 80 * 0.9)


# --- 2. 67B int4 (group 64) on 2 x A100 80GB SXM, tensor parallel 2 over NVLink (600 GB/s), chat batch 4 ---------
def test_67b_int4_tp2_nvlink_batch4():
    p = plan("deepseek-llm-67b-base", "int4", "a100-80gb-sxm", devices=2, tp=2, scenario="chat", batch=4)
    w_read = L67 * layer67(int4_bytes) + int8_bytes(V67, H67) + (2 * L67 + 1) * H67 * 2  # the head int8
    t_mem = (w_read + 4 * 2048 * KV67_BF16) / 2 / (2039e9 * E_BW)
    allreduce = LAT_NVLINK + 2 * (2 - 1) / 2 * (4 * H67 * 2) / (600e9 / 2)  # 4 rows x h x bf16
    comm = 2 * L67 * allreduce
    assert p.link == "nvlink" and p.decode_bound == "memory"
    assert close(p.allreduce_ms, comm * 1e3)
    assert close(p.tokens_per_s_per_stream, 1 / (t_mem + comm))
    assert close(p.tokens_per_s_aggregate, 4 / (t_mem + comm))
    assert close(p.kv_cache_gb, 4 * 2048 * KV67_BF16 / 2 / 1e9)  # GQA: 8 KV heads, split over 2 devices


# --- 3. 7B int8 on one L4 (300 GB/s GDDR6, 24 GB), edge: batch 1 ---------------------------------------------------
def test_7b_int8_on_l4():
    p = plan("deepseek-llm-7b-base", "int8", "l4", scenario="edge")
    layer = 4 * int8_bytes(H7, H7) + 2 * int8_bytes(I7, H7) + int8_bytes(H7, I7)
    w_read = L7 * layer + int8_bytes(V7, H7) + 2 * NORMS7
    assert close(p.tokens_per_s_per_stream, 1 / ((w_read + 2048 * KV7_BF16) / (300e9 * E_BW)))  # about 27
    assert close(p.weights_gb, (w_read + V7 * H7 * 2) / 1e9)  # embedding stays bf16
    assert p.fits and close(p.usable_gb, 24 * 0.9)


# --- 4. 67B bf16 on 8 x A100 40GB PCIe, tensor parallel 8 over PCIe Gen4 (64 GB/s), batch processing at 64 ---------
def test_67b_bf16_tp8_over_pcie_batch64():
    p = plan("deepseek-llm-67b-base", "bf16", "a100-40gb-pcie", devices=8, tp=8, scenario="batch", batch=64)
    fmt = lambda r, c: 2 * r * c  # noqa: E731
    w_read = L67 * layer67(fmt) + fmt(V67, H67) + (2 * L67 + 1) * H67 * 2
    t_mem = (w_read + 64 * 2048 * KV67_BF16) / 8 / (1555e9 * E_BW)
    n_mm = L67 * (2 * H67 * H67 + 2 * KV67 * H67 + 3 * H67 * I67) + V67 * H67
    t_flops = (2 * 64 * n_mm + 4 * 64 * L67 * 2048 * H67) / 8 / (312e12 * E_C)
    comm = 2 * L67 * (LAT_PCIE + 2 * 7 / 8 * (64 * H67 * 2) / (64e9 / 2))
    assert p.link == "pcie" and t_mem > t_flops
    assert close(p.decode_step_ms, (t_mem + comm) * 1e3)
    assert close(p.tokens_per_s_aggregate, 64 / (t_mem + comm))  # about 1,750 tokens/s
    assert p.fits and close(p.weights_gb, (w_read + fmt(V67, H67)) / 8 / 1e9)


# --- 5. Time to first token: 7B bf16 on one A100 80GB SXM (312 dense bf16 TFLOPS), 1,024-token prompt ---------------
def test_ttft_7b_bf16_on_a100_is_compute_bound():
    p = plan("deepseek-llm-7b-base", "bf16", "a100-80gb-sxm", devices=1, context=2048, prompt_tokens=1024)
    flops = 2 * 1024 * L7 * LAYER7 + 2 * V7 * H7 + 2 * L7 * 1024**2 * H7  # layers, last logits, causal attention
    assert p.ttft_bound == "compute"
    assert close(p.ttft_s, flops / (312e12 * E_C))  # about 0.09 s


# --- 6. SmolLM2-135M on the Jetson AGX Orin 32GB (204.8 GB/s), fp32 and int8: the tied embedding -----------------
def test_smollm2_fp32_and_int8_on_orin():
    layer = HS * HS * 2 + 2 * KVS * HS + 3 * HS * IS  # q, o; k, v; gate, up, down
    norms = (2 * LS + 1) * HS
    kv_fp32 = 2 * LS * KVS * 4
    p32 = plan("smollm2-135m-instruct", "fp32", "jetson-agx-orin-32gb", scenario="edge")
    w32 = 4 * (LS * layer + VS * HS) + 4 * norms  # the lm_head IS the embedding: counted once
    assert close(p32.weights_gb, w32 / 1e9)
    assert close(p32.tokens_per_s_per_stream, 1 / ((w32 + 2048 * kv_fp32) / (204.8e9 * E_BW)))
    p8 = plan("smollm2-135m-instruct", "int8", "jetson-agx-orin-32gb", scenario="edge")
    lay8 = 2 * int8_bytes(HS, HS) + 2 * int8_bytes(KVS, HS) + 2 * int8_bytes(IS, HS) + int8_bytes(HS, IS)
    w8 = LS * lay8 + int8_bytes(VS, HS) + 2 * norms
    assert close(p8.weights_gb, (w8 + VS * HS * 2) / 1e9)  # quantized lm_head copy + the bf16 embedding
    assert close(p8.tokens_per_s_per_stream, 1 / ((w8 + 2048 * 2 * LS * KVS * 2) / (204.8e9 * E_BW)))


# --- 7. 7B fp8 on one H200 (4,800 GB/s, 1,979 dense fp8 TFLOPS), batch processing at 64 -----------------------------
def test_7b_fp8_on_h200_batch():
    p = plan("deepseek-llm-7b-base", "fp8", "h200-sxm", scenario="batch", batch=64)
    w_read = 1 * (L7 * LAYER7 + V7 * H7) + 2 * NORMS7
    t_mem = (w_read + 64 * 2048 * KV7_BF16) / (4800e9 * E_BW)  # the KV cache (64 GB) dominates
    t_flops = (2 * 64 * (L7 * LAYER7 + V7 * H7) + 4 * 64 * L7 * 2048 * H7) / (1979e12 * E_C)
    assert t_mem > t_flops
    assert close(p.tokens_per_s_aggregate, 64 / t_mem)
    assert p.fits  # 7 GB weights + 64 GB KV in 127 GB usable


# --- fits / does not fit ---------------------------------------------------------------------------------------------
def test_67b_bf16_does_not_fit_one_h200_but_int8_does():
    bf16 = plan("deepseek-llm-67b-base", "bf16", "h200-sxm")
    assert not bf16.fits and bf16.max_batch == 0  # 135 GB of weights, 126.9 GB usable
    assert bf16.weights_gb > 141 * 0.9
    assert plan("deepseek-llm-67b-base", "int8", "h200-sxm").fits


def test_fit_edge_is_exact():
    p = plan("deepseek-llm-7b-base", "bf16", "h100-sxm")
    exact = replace(HARDWARE["h100-sxm"], memory_gb=p.needed_gb, usable_fraction=1.0)
    assert plan("deepseek-llm-7b-base", "bf16", exact).fits
    short = replace(exact, memory_gb=p.needed_gb - 2e-9)  # two bytes short
    assert not plan("deepseek-llm-7b-base", "bf16", short).fits


def test_max_batch_is_the_last_that_fits():
    p = plan("deepseek-llm-7b-base", "bf16", "l4", scenario="batch", batch=1)
    assert p.max_batch > 1
    assert plan("deepseek-llm-7b-base", "bf16", "l4", scenario="batch", batch=p.max_batch).fits
    assert not plan("deepseek-llm-7b-base", "bf16", "l4", scenario="batch", batch=p.max_batch + 1).fits


def test_default_tp_is_the_fastest_that_fits():
    # 67B bf16 does not fit one A100 80GB: two devices must be tensor parallel.
    assert plan("deepseek-llm-67b-base", "bf16", "a100-80gb-sxm", devices=2).tp == 2
    # 7B fits one: for chat the faster stream (tp 2) wins.
    assert plan("deepseek-llm-7b-base", "bf16", "a100-80gb-sxm", devices=2, scenario="chat").tp == 2
    # Batch processing: the most aggregate among those that fit. At batch 32 two replicas fit and win; at 64 a
    # replica's KV cache (64 x 2048 x 491,520 B = 64 GB) no longer fits beside 14 GB of weights: tp 2 it is.
    assert plan("deepseek-llm-7b-base", "bf16", "a100-80gb-sxm", devices=2, scenario="batch", batch=32).tp == 1
    b64 = plan("deepseek-llm-7b-base", "bf16", "a100-80gb-sxm", devices=2, scenario="batch", batch=64)
    assert b64.tp == 2 and b64.fits
    assert not plan("deepseek-llm-7b-base", "bf16", "a100-80gb-sxm", devices=2, tp=1, scenario="batch", batch=64).fits


# --- refusals and bad inputs -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("hw", ["a100-40gb-pcie", "a100-80gb-sxm", "jetson-agx-orin-32gb"])
def test_fp8_refused_without_fp8_tensor_cores(hw):
    with pytest.raises(PlanError, match="no FP8 tensor cores"):
        plan("deepseek-llm-7b-base", "fp8", hw)
    assert plan("deepseek-llm-7b-base", "bf16", hw, scenario="edge").precision == "bf16"


def test_tp_cost_nvlink_vs_pcie():
    nv = plan("deepseek-llm-7b-base", "bf16", "a100-80gb-pcie", devices=2, tp=2, link="nvlink")
    pc = plan("deepseek-llm-7b-base", "bf16", "a100-80gb-pcie", devices=2, tp=2, link="pcie")
    msg = 1 * H7 * 2  # batch 1 x h x bf16
    assert close(nv.allreduce_ms, 2 * L7 * (LAT_NVLINK + msg / (600e9 / 2)) * 1e3)
    assert close(pc.allreduce_ms, 2 * L7 * (LAT_PCIE + msg / (64e9 / 2)) * 1e3)
    assert plan("deepseek-llm-7b-base", "bf16", "a100-80gb-pcie", tp=1).allreduce_ms == 0
    with pytest.raises(PlanError, match="no NVLink joins 4 devices"):  # a PCIe card's bridge joins two
        plan("deepseek-llm-7b-base", "bf16", "a100-80gb-pcie", devices=4, tp=4, link="nvlink")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"model": "llama-9000"}, "neither a preset"),
    ({"precision": "fp16"}, "unknown precision 'fp16'; choices: fp32, bf16, fp8, int8, int4"),
    ({"hardware": "tpu-v5"}, "unknown hardware 'tpu-v5'; choices: a100-40gb-pcie"),
    ({"scenario": "realtime"}, "unknown scenario 'realtime'; choices: chat, batch, edge"),
    ({"batch": 8}, "batch 8 is outside the chat scenario's 1-4"),
    ({"hardware": "jetson-agx-orin-32gb", "devices": 2}, "takes 1..1"),
    ({"devices": 8, "tp": 3}, "tp 3 must divide devices=8"),
    ({"context": 10**6}, "context 1000000 must be 2..4096"),
])
def test_bad_inputs_name_the_value_and_the_choices(kwargs, message):
    args = {"model": "deepseek-llm-7b-base", "precision": "bf16", "hardware": "a100-80gb-sxm", **kwargs}
    with pytest.raises(PlanError) as exc:
        plan(args.pop("model"), args.pop("precision"), args.pop("hardware"), **args)
    assert message in str(exc.value)


def test_a_config_json_is_read_strictly(tmp_path):
    from modelcore.config import ModelConfig

    (tmp_path / "config.json").write_text(json.dumps(ModelConfig.from_name("deepseek-llm-7b-base").to_hf()))
    from_file = plan(str(tmp_path), "bf16", "h100-sxm")
    assert from_file.tokens_per_s_per_stream == plan("deepseek-llm-7b-base", "bf16", "h100-sxm").tokens_per_s_per_stream
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "mistral"}))
    with pytest.raises(PlanError, match="model_type='mistral' is not supported"):
        plan(str(tmp_path / "config.json"), "bf16", "h100-sxm")


# --- the matrix ----------------------------------------------------------------------------------------------------
def test_the_matrix_sets_the_source_rows_beside_predictions():
    rows = planner.source_matrix()
    assert len(rows) == 3 * 2 * 4
    by = {(r.source.split(":")[0], r.model, r.precision): r for r in rows}
    assert by[("real-time chat", "deepseek-llm-7b-base", "fp8")].verdict == "refused"
    assert by[("edge", "deepseek-llm-67b-base", "bf16")].verdict == "does not fit"
    # 350 tokens/s for one 7B int4 stream at tp 2; 67B bf16 cannot reach it within chat's batch of 4.
    assert by[("real-time chat", "deepseek-llm-7b-base", "int4")].verdict == "plausible"
    assert by[("real-time chat", "deepseek-llm-67b-base", "bf16")].verdict == "not plausible"
    # The Orin's 45 tokens/s is above even a 7B int4 stream at the assumed 70% of its bandwidth.
    orin = by[("edge", "deepseek-llm-7b-base", "int4")]
    assert orin.verdict == "not plausible" and orin.batch1_tokens_per_s < 45
    text = planner.describe_matrix(rows)
    assert "1,200 tokens/s" in text and "assumptions:" in text


# --- this CPU: the planner against our own engine (bench/plan_calibrate.py -> bench/results/plan_cpu.json) ----------
CPU_JSON = REPO / "bench" / "results" / "plan_cpu.json"


def _cpu_prediction(point: dict) -> float:
    """The planner's tokens/s (aggregate) for a measured point: SmolLM2 fp32 on this CPU, KV at the mean length."""
    p = plan("smollm2-135m-instruct", "fp32", "cpu", scenario="chat", batch=point["batch"],
             context=point["prompt_tokens"] + point["new_tokens"] // 2, calibration=CPU_JSON)
    return p.tokens_per_s_aggregate


def test_cpu_row_is_the_measurement():
    data = json.loads(CPU_JSON.read_text())
    cpu = planner.cpu_hardware(CPU_JSON)
    assert cpu.bandwidth_gb_s == data["hardware"]["read_bandwidth_gb_s"]
    assert cpu.tflops_fp32 * 1e3 == data["hardware"]["matmul_fp32_gflops"]
    assert 0 < cpu.bandwidth_efficiency <= 1 and 0 < cpu.compute_efficiency <= 1
    assert "measured" in cpu.efficiency_source and data["load_avg_before"] and data["load_avg_after"]
    with pytest.raises(PlanError, match="no FP8 tensor cores"):
        plan("smollm2-135m-instruct", "fp8", "cpu", calibration=CPU_JSON)
    with pytest.raises(PlanError, match="has not been measured"):
        planner.cpu_hardware(CPU_JSON.with_name("no-such.json"))


@pytest.mark.parametrize("point", ["long_context_decode", "batch_decode"])
def test_cpu_prediction_within_25_percent_of_held_out_measurements(point):
    """Held out: the efficiency factors come from the batch-1 decode at a 128-token prompt and a 256-token prefill;
    these points (768-token context; 4 streams at once) were measured beside them but not fitted."""
    measured = json.loads(CPU_JSON.read_text())["heldout"][point]
    tokens_per_s = measured.get("aggregate_tokens_per_s", measured.get("tokens_per_s"))
    predicted = _cpu_prediction(measured)
    assert abs(predicted / tokens_per_s - 1) <= 0.25, (point, predicted, tokens_per_s)


def test_cpu_prediction_at_the_calibration_point():
    """By construction (the bandwidth factor is fitted here): checks the plumbing, JSON -> factor -> prediction."""
    measured = json.loads(CPU_JSON.read_text())["calibration"]["decode"]
    assert _cpu_prediction(measured) == pytest.approx(measured["tokens_per_s"], rel=0.01)


# --- the CLI ---------------------------------------------------------------------------------------------------------
def test_cli_json_is_the_plan():
    out = subprocess.run(
        [sys.executable, "-m", "modelcore", "plan", "--model", "deepseek-llm-7b-base", "--precision", "int8",
         "--hardware", "a100-80gb-sxm", "--devices", "2", "--scenario", "chat", "--batch", "2", "--json"],
        cwd=REPO, capture_output=True, text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    expected = plan("deepseek-llm-7b-base", "int8", "a100-80gb-sxm", devices=2, scenario="chat", batch=2)
    assert data == json.loads(json.dumps(expected.to_dict()))
    assert data["fits"] is True and data["tp"] == 2 and data["link"] == "nvlink"


def test_cli_text_matrix_and_errors(capsys):
    assert cli_main(["plan", "--model", "deepseek-llm-7b-base", "--hardware", "h100-sxm"]) == 0
    assert "tokens/s per stream" in capsys.readouterr().out
    assert cli_main(["plan", "--matrix", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["rows"]) == 24
    with pytest.raises(SystemExit) as exc:
        cli_main(["plan", "--model", "deepseek-llm-7b-base", "--precision", "fp8", "--hardware", "a100-40gb-pcie"])
    assert exc.value.code == 2 and "no FP8 tensor cores" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli_main(["plan", "--model", "deepseek-llm-7b-base", "--hardware", "tpu"])
    assert "invalid choice: 'tpu'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli_main(["plan", "--hardware", "l4"])
    assert "plan needs --model" in capsys.readouterr().err
