"""Drift statistics benchmark (not a test): false alarms on same-distribution traffic, and a simulated shift.

Traffic is prompts as the platform builds them, featurised as monitoring does: prompt length and token
unigrams with the real SmolLM2 tokenizer, sentence embeddings with all-MiniLM-L6-v2 (apps.monitoring.embeddings).

- Medical domain (reference and same-distribution traffic): the triage prompt (apps.medical.prompts.triage_prompt)
  and one SOAP section prompt (section_prompt, section drawn at random) of every vignette in data/triage
  (train, heldout, independent dev/test) and of the demo encounters (apps/medical/demo.py), plus the medical
  adapter's prompts (data/adapters/medical). The pool is split at random in two halves: the reference, and the
  traffic that same-distribution windows are drawn from (without replacement within a window).
- Shifted traffic, fed to the medical domain: finance report prompts (system + user messages of
  data/adapters/finance), general chat prompts (data/adapters/general), and a window of medical traffic with
  25 % general chat mixed in.

For each window size: the false-alarm rate over `--windows` seeded same-distribution windows, at the fixed
default 0.15, at Evidently's and NannyML's fixed defaults (Jensen-Shannon 0.1; domain-classifier ROC AUC 0.55,
i.e. an embedding drift score of 0.1), and at thresholds calibrated on the reference
(apps.monitoring.stats.calibrate_threshold, alpha 0.01); then, for each shift, the share of `--shift-windows`
seeded windows whose statistic exceeds each threshold (1.0 = caught within one window, every time).
Evidently's Jensen-Shannon test compares scipy's DISTANCE (natural log) with 0.1: that is a divergence of
0.01 / ln 2 = 0.0144 bits, reported as `evidently_js`.

    .venv/bin/python bench/monitoring.py            # windows 50 and 200, 100 windows each
    .venv/bin/python bench/monitoring.py --quick    # windows 50, 40 windows, 100 resamples
Writes bench/results/monitoring.json.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from apps.core.eval_stats import wilson  # noqa: E402
from apps.monitoring import stats  # noqa: E402

DEFAULT_THRESHOLD = 0.15
EVIDENTLY_JS_DISTANCE = 0.1  # Evidently: scipy jensenshannon (natural log) distance >= 0.1
EVIDENTLY_JS = EVIDENTLY_JS_DISTANCE**2 / math.log(2)  # the same rule as a base-2 divergence: 0.0144
NANNYML_AUC = 0.55  # domain-classifier ROC AUC (Evidently's embedding "model" method default too)
FIXED = {  # per statistic: name -> threshold on OUR statistic
    "psi_length": {"default": DEFAULT_THRESHOLD},
    "ks_length": {"default": DEFAULT_THRESHOLD},
    "js_unigrams": {"default": DEFAULT_THRESHOLD, "js_0.1": 0.1, "evidently_js": EVIDENTLY_JS},
    "embedding": {"default": DEFAULT_THRESHOLD, "auc_0.55": 2 * (NANNYML_AUC - 0.5)},
}


def git_commit() -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def medical_prompts(rng: np.random.Generator) -> list[str]:
    from apps.medical.demo import DEMO_ENCOUNTERS
    from apps.medical.prompts import SOAP_SECTIONS, section_prompt, triage_prompt

    vitals_keys = ("heart_rate", "systolic_bp", "diastolic_bp", "respiratory_rate", "spo2", "temperature_c",
                   "pain_score", "consciousness")
    encounters = []
    for name in ("train.jsonl", "heldout.jsonl", "independent/dev.jsonl", "independent/test.jsonl"):
        for row in read_jsonl(REPO / "data" / "triage" / name):
            encounters.append(SimpleNamespace(
                age=row["age"], sex=row["sex"], chief_complaint=row["chief_complaint"],
                history=row.get("history") or "", notes=row.get("notes") or "",
                vitals=SimpleNamespace(**{k: row["vitals"].get(k) for k in vitals_keys}),
            ))
    for demo in DEMO_ENCOUNTERS:
        encounters.append(SimpleNamespace(
            age=demo["age"], sex=demo["sex"], chief_complaint=demo["chief_complaint"], history=demo["history"],
            notes=demo["notes"], allergies=demo["allergies"], current_medications=demo["current_medications"],
            vitals=SimpleNamespace(**{k: demo.get(k) for k in vitals_keys}),
        ))
    prompts = []
    for encounter in encounters:
        prompts.append(triage_prompt(encounter))
        _, instruction = SOAP_SECTIONS[int(rng.integers(len(SOAP_SECTIONS)))]
        prompts.append(section_prompt(encounter, instruction, triage_level=int(rng.integers(1, 6))))
    for name in ("train.jsonl", "heldout.jsonl"):
        prompts += [row["prompt"] for row in read_jsonl(REPO / "data" / "adapters" / "medical" / name)]
    return prompts


def finance_prompts() -> list[str]:
    out = []
    for name in ("train.jsonl", "heldout.jsonl"):
        for row in read_jsonl(REPO / "data" / "adapters" / "finance" / name):
            out.append("\n\n".join(m["content"] for m in row["messages"] if m["role"] != "assistant"))
    return out


def general_prompts() -> list[str]:
    return [row["prompt"] for name in ("train.jsonl", "heldout.jsonl")
            for row in read_jsonl(REPO / "data" / "adapters" / "general" / name)]


class Features:
    """Per-prompt features as monitoring records them: token ids, length, embedding."""

    def __init__(self, texts: list[str], tokenizer, vectors: np.ndarray) -> None:
        self.ids = [tokenizer.encode(t) for t in texts]
        self.length = np.array([len(i) for i in self.ids], dtype=np.float64)
        self.emb = vectors.astype(np.float64)

    def take(self, index: np.ndarray) -> SimpleNamespace:
        return SimpleNamespace(ids=[self.ids[i] for i in index], length=self.length[index], emb=self.emb[index])


def statistics_of(reference: SimpleNamespace, ref_counts: dict, window: SimpleNamespace) -> dict[str, float]:
    return {
        "psi_length": stats.psi(reference.length, window.length),
        "ks_length": stats.ks_statistic(reference.length, window.length),
        "js_unigrams": stats.js_divergence(ref_counts, stats.unigram_counts(window.ids)),
        "embedding": stats.embedding_drift_score(reference.emb, window.emb),
    }


def calibrated_thresholds(reference: SimpleNamespace, *, window: int, alpha: float, resamples: int) -> dict:
    def js(ref_ids, win_ids):
        return stats.js_divergence(stats.unigram_counts(ref_ids), stats.unigram_counts(win_ids))

    kw = {"window_size": window, "alpha": alpha, "resamples": resamples, "seed": 0}
    out, seconds = {}, {}
    for name, fn, data in (("psi_length", stats.psi, reference.length), ("ks_length", stats.ks_statistic,
                           reference.length), ("js_unigrams", js, reference.ids),
                           ("embedding", stats.embedding_drift_score, reference.emb)):
        t0 = time.perf_counter()
        out[name] = stats.calibrate_threshold(fn, data, **kw)
        seconds[name] = time.perf_counter() - t0
    return {"thresholds": out, "seconds": seconds}


def embedding_parity(texts: list[str]) -> float:
    """Max |ours - transformers' AutoModel + mean pooling + L2| over `texts` (our BERT forward vs theirs)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from apps.monitoring.embeddings import embed, model_dir

    model = AutoModel.from_pretrained(str(model_dir()), dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir()))
    batch = tokenizer(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
    with torch.inference_mode():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"][..., None].float()
    theirs = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=1).numpy()
    return float(np.abs(theirs - embed(texts)).max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--windows", type=int, default=400, help="same-distribution windows per window size (all splits)")
    parser.add_argument("--shift-windows", type=int, default=20, help="shifted windows per shift and size (all splits)")
    parser.add_argument("--sizes", default="50,200")
    parser.add_argument("--alpha", type=float, default=0.01)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--splits", type=int, default=5, help="reference/traffic splits of the medical pool")
    parser.add_argument("--no-parity", action="store_true", help="skip the check against transformers")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "monitoring.json")
    args = parser.parse_args()
    if args.quick:
        args.windows, args.shift_windows, args.sizes, args.resamples, args.splits = 40, 10, "50", 100, 2
    sizes = [int(s) for s in args.sizes.split(",")]

    import torch

    from apps.monitoring.embeddings import embed
    from modelcore.gguf_import import ensure_smollm2
    from modelcore.tokenizer import Tokenizer

    load_before = os.getloadavg()
    rng = np.random.default_rng(0)
    data_dir = os.environ.get("PLUMBLINE_DATA_DIR") or (REPO / "var" / "test-cache")
    tokenizer = Tokenizer.from_dir(ensure_smollm2(data_dir))
    texts = {"medical": medical_prompts(rng), "finance": finance_prompts(), "general": general_prompts()}
    t0 = time.perf_counter()
    vectors = {name: embed(t) for name, t in texts.items()}
    embed_seconds = time.perf_counter() - t0
    n_texts = sum(len(t) for t in texts.values())
    features = {name: Features(t, tokenizer, vectors[name]) for name, t in texts.items()}

    medical = features["medical"]
    results: dict = {"sizes": {}}
    table = []
    for size in sizes:
        # Each split of the medical pool into a reference half and a traffic half is one deployment: its own
        # calibration, its own same-distribution windows. Windows of one split share that split's luck (the two
        # halves differ by chance), so the false-alarm rate is pooled over several splits and shown per split.
        null: list[dict] = []  # per window: statistic values, with the split's thresholds
        shifts: dict[str, list] = {"finance": [], "general": [], "general_25pct": []}
        calibrate_seconds, window_seconds = 0.0, 0.0
        per_split_thresholds = []
        for split in range(args.splits):
            order = np.random.default_rng(split).permutation(len(texts["medical"]))
            ref_index, traffic_index = order[: len(order) // 2], order[len(order) // 2:]
            reference = medical.take(ref_index)
            ref_counts = stats.unigram_counts(reference.ids)
            t0 = time.perf_counter()
            calibration = calibrated_thresholds(reference, window=size, alpha=args.alpha, resamples=args.resamples)
            limits = {name: dict(fixed, calibrated=calibration["thresholds"][name]) for name, fixed in FIXED.items()}
            per_split_thresholds.append(calibration["thresholds"])
            calibrate_seconds += time.perf_counter() - t0
            t0 = time.perf_counter()
            for w in range(args.windows // args.splits):
                index = np.random.default_rng(1000 + 100_000 * split + w).choice(traffic_index, size, replace=False)
                null.append({"values": statistics_of(reference, ref_counts, medical.take(index)), "limits": limits,
                             "split": split})
            window_seconds += time.perf_counter() - t0
            for shift in shifts:
                for w in range(max(1, args.shift_windows // args.splits)):
                    wrng = np.random.default_rng(5000 + 100_000 * split + w)
                    if shift == "general_25pct":
                        k = size // 4
                        med = medical.take(wrng.choice(traffic_index, size - k, replace=False))
                        gen = features["general"].take(wrng.choice(len(texts["general"]), k, replace=False))
                        window = SimpleNamespace(ids=med.ids + gen.ids, length=np.concatenate([med.length, gen.length]),
                                                 emb=np.vstack([med.emb, gen.emb]))
                    else:
                        pool = features[shift]
                        window = pool.take(wrng.choice(len(texts[shift]), size, replace=len(texts[shift]) < size))
                    shifts[shift].append({"values": statistics_of(reference, ref_counts, window), "limits": limits})

        per_stat = {}
        for name, fixed in FIXED.items():
            labels = [*fixed, "calibrated"]
            null_values = np.array([v["values"][name] for v in null])
            entry = {"thresholds": {**fixed, "calibrated_per_split": [t[name] for t in per_split_thresholds]},
                     "null_mean": float(null_values.mean()), "null_p99": float(np.quantile(null_values, 0.99)),
                     "false_alarm_rate": {}, "false_alarm_ci95": {}, "false_alarm_rate_per_split": {},
                     "detection_rate": {}}
            for label in labels:
                alarms = np.array([v["values"][name] > v["limits"][name][label] for v in null])
                entry["false_alarm_rate"][label] = float(alarms.mean())
                entry["false_alarm_ci95"][label] = wilson(int(alarms.sum()), len(alarms))
                entry["false_alarm_rate_per_split"][label] = [
                    float(alarms[[v["split"] == k for v in null]].mean()) for k in range(args.splits)]
                entry["detection_rate"][label] = {
                    shift: float(np.mean([v["values"][name] > v["limits"][name][label] for v in values]))
                    for shift, values in shifts.items()}
            entry["shift_mean"] = {shift: float(np.mean([v["values"][name] for v in values]))
                                   for shift, values in shifts.items()}
            per_stat[name] = entry
            for label in labels:
                limit = (float(np.mean(entry["thresholds"]["calibrated_per_split"])) if label == "calibrated"
                         else fixed[label])
                table.append((size, name, label, limit, entry["false_alarm_rate"][label],
                              entry["false_alarm_ci95"][label],
                              *(entry["detection_rate"][label][s] for s in shifts)))
        results["sizes"][str(size)] = {"statistics": per_stat, "calibrate_total_s": calibrate_seconds,
                                       "seconds_per_window": window_seconds / max(1, len(null))}

    parity = None if args.no_parity else embedding_parity(texts["medical"][:16] + texts["finance"][:4])
    load_after = os.getloadavg()
    result = {
        "commit": git_commit(), "threads": torch.get_num_threads(), "load_avg_before": load_before,
        "load_avg_after": load_after, "args": vars(args) | {"out": str(args.out)},
        "pool_sizes": {name: len(t) for name, t in texts.items()}, "reference_size": len(texts["medical"]) // 2,
        "splits": args.splits,
        "prompt_tokens_mean": {name: float(f.length.mean()) for name, f in features.items()},
        "embed_texts_per_s": n_texts / embed_seconds, "embedding_parity_max_abs_diff": parity,
        "fixed_thresholds": {"default": DEFAULT_THRESHOLD, "evidently_js_distance": EVIDENTLY_JS_DISTANCE,
                             "evidently_js_as_divergence_bits": EVIDENTLY_JS, "auc": NANNYML_AUC},
        **results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, default=str))

    print(f"monitoring statistics  (load {load_before[0]:.1f} -> {load_after[0]:.1f}; commit {result['commit'][:8]};"
          f" reference {len(texts['medical']) // 2} medical prompts; {args.splits} splits; {args.windows} null windows,"
          f" {args.shift_windows} per shift)")
    print(f"{'window':>6}  {'statistic':<11} {'threshold':<13} {'value':>7}  {'false alarms [95% CI]':>22}  "
          f"{'finance':>7} {'general':>7} {'gen 25%':>7}")
    for size, name, label, limit, fa, (lo, hi), *det in table:
        print(f"{size:>6}  {name:<11} {label:<13} {limit:>7.4f}  {fa:>6.1%} [{lo:>5.1%}, {hi:>5.1%}]  "
              + " ".join(f"{d:>7.0%}" for d in det))
    print(f"embeddings: {result['embed_texts_per_s']:.0f} texts/s; parity with transformers: max abs diff {parity}")
    for size, r in results["sizes"].items():
        print(f"window {size}: {r['seconds_per_window'] * 1000:.1f} ms per window (4 statistics); "
              f"calibration {r['calibrate_total_s']:.1f} s")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
