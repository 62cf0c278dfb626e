"""Triage evaluation: the synthetic vignettes and the metrics that count under- and over-triage apart.

Under-triage (predicted level numerically greater than the label: less urgent than needed) is the
dangerous error; over-triage costs resources. Both are rates over all cases, so
accuracy + under_triage_rate + over_triage_rate == 1.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from apps.medical.clinical import TriageCase, case_errors

LEVELS = (1, 2, 3, 4, 5)
VIGNETTE_DIR = Path(__file__).resolve().parents[2] / "data" / "triage"
_CASE_FIELDS = ("age", "sex", "chief_complaint", "vitals", "history", "notes", "expected_resources")


@dataclass(frozen=True)
class TriageMetrics:
    n: int
    accuracy: float
    under_triage_rate: float
    over_triage_rate: float
    confusion: tuple[tuple[int, ...], ...]  # confusion[label - 1][predicted - 1]
    under_triage: int = 0
    over_triage: int = 0

    def to_dict(self) -> dict:
        return {
            "n": self.n, "accuracy": self.accuracy, "under_triage_rate": self.under_triage_rate,
            "over_triage_rate": self.over_triage_rate, "under_triage": self.under_triage,
            "over_triage": self.over_triage, "confusion": [list(row) for row in self.confusion],
        }

    def summary(self) -> str:
        return (f"n={self.n} accuracy={self.accuracy:.3f} under-triage={self.under_triage_rate:.3f} "
                f"({self.under_triage}) over-triage={self.over_triage_rate:.3f} ({self.over_triage})")

    def confusion_table(self) -> str:
        """Rows: label ESI; columns: predicted ESI."""
        lines = ["label\\pred " + " ".join(f"{p:>4}" for p in LEVELS)]
        for label, row in zip(LEVELS, self.confusion, strict=True):
            lines.append(f"ESI {label}      " + " ".join(f"{c:>4}" for c in row))
        return "\n".join(lines)


def evaluate(pairs: Iterable[tuple[int, int]]) -> TriageMetrics:
    """Metrics over (predicted, label) pairs of ESI levels 1-5."""
    confusion = [[0] * 5 for _ in LEVELS]
    n = correct = under = over = 0
    for predicted, label in pairs:
        for name, value in (("predicted", predicted), ("label", label)):
            if isinstance(value, bool) or value not in LEVELS:
                raise ValueError(f"{name} level must be one of 1-5, got {value!r}")
        n += 1
        confusion[label - 1][predicted - 1] += 1
        if predicted == label:
            correct += 1
        elif predicted > label:
            under += 1
        else:
            over += 1
    rate = (lambda k: k / n) if n else (lambda k: 0.0)
    return TriageMetrics(
        n=n, accuracy=rate(correct), under_triage_rate=rate(under), over_triage_rate=rate(over),
        confusion=tuple(tuple(row) for row in confusion), under_triage=under, over_triage=over,
    )


@dataclass(frozen=True)
class Vignette:
    id: str
    case: TriageCase
    esi: int
    synthetic: bool = True
    basis: str = ""            # the handbook criterion the generator built the case from
    noise: str | None = None   # "boundary" | "judgment" | None
    extra: dict = field(default_factory=dict, compare=False)


def vignette_path(split: str) -> Path:
    if split not in ("train", "heldout"):
        raise ValueError(f"split must be 'train' or 'heldout', got {split!r}")
    return VIGNETTE_DIR / f"{split}.jsonl"


def load_vignettes(path: str | Path) -> list[Vignette]:
    """Read a JSONL vignette file; a malformed row raises ValueError naming its line and problem."""
    out = []
    with Path(path).open() as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                case = TriageCase.from_dict({k: row[k] for k in _CASE_FIELDS if k in row})
                errors = case_errors(case)
                if errors:
                    raise ValueError("; ".join(errors.values()))
                esi = row["esi"]
                if isinstance(esi, bool) or esi not in LEVELS:
                    raise ValueError(f"esi must be 1-5, got {esi!r}")
                if row.get("synthetic") is not True:
                    raise ValueError("every vignette must be marked \"synthetic\": true")
                out.append(Vignette(id=str(row["id"]), case=case, esi=esi, synthetic=True,
                                    basis=row.get("basis", ""), noise=row.get("noise")))
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"{path}:{lineno}: {exc}") from exc
    return out


def evaluate_predictor(vignettes: Iterable[Vignette], predict: Callable[[TriageCase], int]) -> TriageMetrics:
    """Metrics of any predictor (the rules, the model, both combined) over the vignettes."""
    return evaluate((predict(v.case), v.esi) for v in vignettes)


def rules_predict(case: TriageCase) -> int:
    from apps.medical.triage_rules import rules_triage

    return rules_triage(case).level
