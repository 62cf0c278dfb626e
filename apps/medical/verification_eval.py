"""Verification evaluation: a corpus of SOAP drafts with one planted error each, and clean drafts.

Corpus rows (JSONL, data/verification/corpus.jsonl; written without looking at the checks, see its README):
``{"id", "synthetic": true, "encounter": {age, sex, vitals, allergies, current_medications, triage_level},
"draft": {subjective, objective, assessment, plan, icd_codes, medications, triage_level},
"planted": null | {"kind", "where", "detail"}}``.

A planted error is **caught** when verification blocks the draft with an error finding of the check that
the kind belongs to (``KIND_CHECKS``), **blocked otherwise** when some other error blocks it, **flagged**
when only a warning of the right check names it, else **missed**. A clean draft is a **false positive**
when any error finding blocks it; findings that only say a check could not run (acknowledgeable:
an unknown drug) are counted apart, since a reviewer clears them without an edit.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from apps.core.eval_stats import Proportion
from apps.medical.clinical import Vitals
from apps.medical.synthetic_jsonl import read_synthetic_rows
from apps.medical.verification import (
    ACKNOWLEDGEABLE_CHECKS,
    CodedDiagnosis,
    DraftContent,
    EncounterFacts,
    Finding,
    MedicationOrder,
    verify_draft,
)

CORPUS_PATH = Path(__file__).resolve().parents[2] / "data" / "verification" / "corpus.jsonl"
KIND_CHECKS: dict[str, tuple[str, ...]] = {
    "icd_invalid": ("icd_exists",),
    "icd_not_billable": ("icd_billable",),
    "drug_unknown": ("drug_unverifiable",),
    "dose_single_too_high": ("dose_range",),
    "dose_daily_too_high": ("dose_range",),
    "frequency_wrong": ("dose_range", "dose_frequency"),
    "allergy_conflict": ("allergy_conflict",),
    "interaction": ("interaction",),
    "vitals_number_mismatch": ("vitals_mismatch",),
    "vitals_claim_contradiction": ("vitals_mismatch",),
    "triage_inconsistent": ("triage_consistency",),
}
OUTCOMES = ("caught", "blocked_otherwise", "flagged", "missed")


@dataclass(frozen=True)
class CorpusRow:
    id: str
    draft: DraftContent
    facts: EncounterFacts
    kind: str | None  # None: a clean draft
    where: str = ""


def _medication(m: dict) -> MedicationOrder:
    return MedicationOrder(name=str(m.get("name", "")), dose_mg=m.get("dose_mg"), dose_text=str(m.get("dose_text") or ""),
                           route=str(m.get("route") or ""), frequency=str(m.get("frequency") or ""),
                           times_per_day=m.get("times_per_day"))


def _corpus_row(row: dict) -> CorpusRow:
    enc, d = row["encounter"], row["draft"]
    facts = EncounterFacts(age=enc["age"], sex=enc["sex"], vitals=Vitals.from_dict(enc.get("vitals")),
                           allergies=list(enc.get("allergies") or []),
                           current_medications=list(enc.get("current_medications") or []),
                           triage_level=enc.get("triage_level"))
    draft = DraftContent(
        subjective=d.get("subjective", ""), objective=d.get("objective", ""), assessment=d.get("assessment", ""),
        plan=d.get("plan", ""),
        icd_codes=[CodedDiagnosis(c["code"], c.get("description", "")) for c in d.get("icd_codes", [])],
        medications=[_medication(m) for m in d.get("medications", [])], triage_level=d.get("triage_level"),
    )
    planted = row.get("planted")
    kind = planted["kind"] if planted else None
    if kind is not None and kind not in KIND_CHECKS:
        raise ValueError(f"unknown planted kind {kind!r}")
    return CorpusRow(id=str(row["id"]), draft=draft, facts=facts, kind=kind, where=(planted or {}).get("where", ""))


def load_corpus(path: str | Path = CORPUS_PATH) -> list[CorpusRow]:
    """Read the corpus; a malformed row raises ValueError naming its line."""
    return read_synthetic_rows(path, _corpus_row)


def outcome(kind: str, findings: list[Finding]) -> str:
    """caught | blocked_otherwise | flagged | missed for a planted error of `kind`."""
    checks = KIND_CHECKS[kind]
    errors = [f for f in findings if f.severity == "error"]
    if any(f.check in checks for f in errors):
        return "caught"
    if errors:
        return "blocked_otherwise"
    if any(f.check in checks for f in findings):
        return "flagged"
    return "missed"


@dataclass(frozen=True)
class VerificationReport:
    per_kind: dict[str, Counter]
    planted: int
    clean: int
    false_positive: int            # clean drafts blocked by a hard (non-acknowledgeable) error
    needs_acknowledgement: int     # clean drafts blocked only by acknowledgeable findings
    details: list[tuple[str, str, str]]  # (row id, outcome or "false_positive"/"needs_ack", the finding messages)

    @property
    def caught(self) -> Proportion:
        return Proportion(sum(c["caught"] for c in self.per_kind.values()), self.planted)

    @property
    def blocked(self) -> Proportion:
        return Proportion(sum(c["caught"] + c["blocked_otherwise"] for c in self.per_kind.values()), self.planted)

    def to_dict(self) -> dict:
        return {
            "planted": self.planted, "clean": self.clean,
            "caught": self.caught.to_dict(), "blocked": self.blocked.to_dict(),
            "false_positive": Proportion(self.false_positive, self.clean).to_dict(),
            "needs_acknowledgement": Proportion(self.needs_acknowledgement, self.clean).to_dict(),
            "per_kind": {k: {o: c[o] for o in OUTCOMES} for k, c in sorted(self.per_kind.items())},
        }


def evaluate_corpus(rows: list[CorpusRow]) -> VerificationReport:
    per_kind: dict[str, Counter] = defaultdict(Counter)
    details = []
    fp = ack = planted = clean = 0
    for row in rows:
        findings = verify_draft(row.draft, row.facts)
        if row.kind is None:
            clean += 1
            errors = [f for f in findings if f.severity == "error"]
            hard = [f for f in errors if f.check not in ACKNOWLEDGEABLE_CHECKS]
            if hard:
                fp += 1
                details.append((row.id, "false_positive", "; ".join(f"{f.check}: {f.message}" for f in hard)))
            elif errors:
                ack += 1
                details.append((row.id, "needs_ack", "; ".join(f"{f.check}: {f.message}" for f in errors)))
            continue
        planted += 1
        result = outcome(row.kind, findings)
        per_kind[row.kind][result] += 1
        if result != "caught":
            details.append((row.id, f"{row.kind}: {result}",
                            "; ".join(f"{f.check}/{f.severity}: {f.message}" for f in findings) or "no findings"))
    return VerificationReport(per_kind=dict(per_kind), planted=planted, clean=clean, false_positive=fp,
                              needs_acknowledgement=ack, details=details)
