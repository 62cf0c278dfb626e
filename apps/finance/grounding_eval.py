"""Evaluate numeric grounding (apps.finance.grounding) on paragraphs with planted errors.

A set is JSONL, one paragraph a line:

    {"id": "...", "company": "<a demo company's name>", "text": "...",
     "errors": [{"number": "<exact substring of text>", "kind": "...", "expected": "..."}],
     "perturbation": "...", "notes": "..."}

A correct paragraph has "errors": []. A planted error is caught when a flag overlaps the planted number's span
(its first occurrence in the text). Every other flag is one the paragraph did not earn: a false flag in a
correct paragraph, a spurious flag in a paragraph with planted errors. A number the checker could not
attribute to a metric (status "unattributed", shown as "could not check") is neither; coverage (attributed
numbers / numbers read, on the correct paragraphs) shows how many the checker checked at all.

The facts are those the platform computes for the seeded demo companies (apps.finance.demo, with the
report defaults for the DCF and the other demo companies as peers), computed here without a database.
Pure: no database, no model.
"""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from apps.core.eval_stats import Proportion

DEV_PATH = Path(__file__).resolve().parents[2] / "data" / "finance" / "grounding" / "dev.jsonl"
_REQUIRED = ("id", "company", "text", "errors")


def load_set(path) -> list[dict]:
    """The paragraphs of a JSONL set; ValueError naming the line and key of a malformed one."""
    rows = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{n}: not JSON ({exc.msg})") from exc
            if not isinstance(row, dict):
                raise ValueError(f"{path}:{n}: a paragraph must be an object")
            for key in _REQUIRED:
                if key not in row:
                    raise ValueError(f"{path}:{n}: missing key {key!r}")
            if not isinstance(row["errors"], list):
                raise ValueError(f"{path}:{n}: 'errors' must be a list")
            for err in row["errors"]:
                if not isinstance(err, dict) or "number" not in err:
                    raise ValueError(f"{path}:{n}: each error needs 'number'")
                if err["number"] not in row["text"]:
                    raise ValueError(f"{path}:{n}: error number {err['number']!r} is not in the text")
            rows.append(row)
    return rows


def demo_facts() -> dict:
    """Company name -> FactSet, as facts_compute gives them for the seeded demo companies with the report
    defaults (WACC, terminal growth, forecast years from settings)."""
    from django.conf import settings

    from apps.finance.analytics import DcfInputs, FinancialPeriod, Peer, compute_facts
    from apps.finance.demo import DEMO_COMPANIES, _statements

    periods = {d.name: [FinancialPeriod(fiscal_year=r["fiscal_year"], currency="USD", values=r["values"])
                        for r in _statements(d)] for d in DEMO_COMPANIES}
    dcf = DcfInputs(wacc=settings.PLUMBLINE_REPORT_DEFAULT_WACC,
                    terminal_growth=settings.PLUMBLINE_REPORT_DEFAULT_TERMINAL_GROWTH,
                    forecast_years=settings.PLUMBLINE_REPORT_DEFAULT_FORECAST_YEARS)
    out = {}
    for d in DEMO_COMPANIES:
        peers = [Peer(name=p.name, price_per_share=float(p.price), period=periods[p.name][-1])
                 for p in sorted(DEMO_COMPANIES, key=lambda p: p.name) if p.name != d.name]
        out[d.name] = compute_facts(periods[d.name], price_per_share=float(d.price), dcf=dcf, peers=peers)
    return out


@dataclass
class Outcome:
    id: str
    perturbation: str
    planted: list[dict]
    caught: list[str]
    missed: list[str]
    extra: list[dict]  # flags that overlap no planted number
    numbers: int = 0  # numeric claims the checker read
    unattributed: list[str] = field(default_factory=list)  # those it could not attribute ("could not check")
    by_value: int = 0  # matched a fact by value though their clause names no metric


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def planted(self) -> Proportion:
        return Proportion(sum(len(o.caught) for o in self.outcomes), sum(len(o.planted) for o in self.outcomes))

    def per_kind(self) -> dict[str, Proportion]:
        counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for o in self.outcomes:
            for err in o.planted:
                c = counts[err.get("kind") or "?"]
                c[1] += 1
                c[0] += err["number"] in o.caught
        return {k: Proportion(*v) for k, v in sorted(counts.items())}

    def coverage(self, outcomes: list[Outcome], *, strict: bool = False) -> Proportion:
        """Numbers attributed (matched or flagged) / numbers read: hiding claims as unattributed lowers it.
        `strict`: a number matched by value alone (its clause names no metric) counts as not attributed."""
        numbers = sum(o.numbers for o in outcomes)
        left = sum(len(o.unattributed) + (o.by_value if strict else 0) for o in outcomes)
        return Proportion(numbers - left, numbers)

    def correct(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.planted]

    def with_errors(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.planted]

    def per_perturbation(self) -> dict[str, dict]:
        groups: dict[str, list[Outcome]] = defaultdict(list)
        for o in self.outcomes:
            groups[o.perturbation or "-"].append(o)
        return {p: {"paragraphs": len(g),
                    "caught": Proportion(sum(len(o.caught) for o in g), sum(len(o.planted) for o in g)).to_dict(),
                    "extra_flags": sum(len(o.extra) for o in g),
                    "paragraphs_with_extra_flags": sum(1 for o in g if o.extra)}
                for p, g in sorted(groups.items())}

    def to_dict(self) -> dict:
        correct, errs = self.correct(), self.with_errors()
        return {
            "paragraphs": len(self.outcomes),
            "correct_paragraphs": len(correct),
            "error_paragraphs": len(errs),
            "planted_caught": self.planted.to_dict(),
            "per_kind": {k: p.to_dict() for k, p in self.per_kind().items()},
            "false_flags": {"count": sum(len(o.extra) for o in correct),
                            "paragraphs": Proportion(sum(1 for o in correct if o.extra), len(correct)).to_dict()},
            "spurious_flags_in_error_paragraphs": {
                "count": sum(len(o.extra) for o in errs),
                "paragraphs": Proportion(sum(1 for o in errs if o.extra), len(errs)).to_dict()},
            "coverage_correct_paragraphs": self.coverage(correct).to_dict(),
            "coverage_all_paragraphs": self.coverage(self.outcomes).to_dict(),
            "coverage_correct_paragraphs_strict": self.coverage(correct, strict=True).to_dict(),
            "unattributed": {"correct_paragraphs": sum(len(o.unattributed) for o in correct),
                             "error_paragraphs": sum(len(o.unattributed) for o in errs)},
            "per_perturbation": self.per_perturbation(),
            "misses": [{"id": o.id, "number": n} for o in self.outcomes for n in o.missed],
            "extra_flags": [{"id": o.id, "correct": not o.planted, **f} for o in self.outcomes for f in o.extra],
            "unattributed_numbers": [{"id": o.id, "correct": not o.planted, "text": t}
                                     for o in self.outcomes for t in o.unattributed],
        }


def evaluate(rows: list[dict], facts_by_company: dict | None = None) -> Report:
    from apps.finance.grounding import UNATTRIBUTED, check_numbers

    facts_by_company = facts_by_company if facts_by_company is not None else demo_facts()
    report = Report()
    for row in rows:
        facts = facts_by_company.get(row["company"])
        if facts is None:
            raise ValueError(f"paragraph {row['id']}: unknown company {row['company']!r}")
        text = row["text"]
        checks = check_numbers(text, facts)
        bad = [c for c in checks if c.flagged]
        used: set[int] = set()
        caught, missed = [], []
        for err in row["errors"]:
            start = text.index(err["number"])
            end = start + len(err["number"])
            hits = [i for i, c in enumerate(bad) if c.start < end and start < c.end]
            used.update(hits)
            (caught if hits else missed).append(err["number"])
        extra = [{"text": c.text, "start": c.start, "kind": c.kind,
                  "expected": c.expected.key if c.expected else None,
                  "expected_display": c.expected.display if c.expected else None}
                 for i, c in enumerate(bad) if i not in used]
        report.outcomes.append(Outcome(str(row["id"]), str(row.get("perturbation") or ""), row["errors"],
                                       caught, missed, extra, len(checks),
                                       [c.text for c in checks if c.status == UNATTRIBUTED],
                                       sum(1 for c in checks if c.by_value)))
    return report


def summary_lines(report: Report) -> list[str]:
    correct, errs = report.correct(), report.with_errors()
    lines = [f"{len(report.outcomes)} paragraphs: {len(errs)} with planted errors, {len(correct)} correct",
             f"planted errors caught: {report.planted}"]
    for kind, p in report.per_kind().items():
        lines.append(f"  {kind:<24} {p}")
    lines.append(f"false flags in correct paragraphs: {sum(len(o.extra) for o in correct)} flags in "
                 f"{Proportion(sum(1 for o in correct if o.extra), len(correct))} paragraphs")
    lines.append(f"spurious flags in error paragraphs: {sum(len(o.extra) for o in errs)} flags in "
                 f"{Proportion(sum(1 for o in errs if o.extra), len(errs))} paragraphs")
    lines.append(f"coverage (numbers attributed to a fact, matched or flagged / numbers read): correct paragraphs "
                 f"{report.coverage(correct)}, all {report.coverage(report.outcomes)}; strict (a number matched by "
                 f"value alone, its clause naming no metric, not counted) {report.coverage(correct, strict=True)}")
    lines.append(f"unattributed ('could not check', not flags): {sum(len(o.unattributed) for o in correct)} in "
                 f"correct paragraphs, {sum(len(o.unattributed) for o in errs)} in error paragraphs")
    lines.append("per perturbation:")
    for name, d in report.per_perturbation().items():
        c = d["caught"]
        lines.append(f"  {name:<28} {d['paragraphs']:>3} paragraphs, caught {c['k']}/{c['n']}, "
                     f"{d['extra_flags']} extra flags in {d['paragraphs_with_extra_flags']}")
    return lines



def perturbation_table(rows: list[dict], *, seed: int = 0, facts: dict | None = None) -> dict:
    """Per perturbation kind: the paragraphs it changed, planted errors caught, false flags and coverage on them."""
    from apps.finance.grounding_perturb import KINDS, perturbed_set

    facts = facts if facts is not None else demo_facts()
    out = {}
    for kind in KINDS:
        changed = perturbed_set(rows, kind, seed=seed)
        report = evaluate(changed, facts)
        correct = report.correct()
        out[kind] = {"paragraphs": len(changed), "correct_paragraphs": len(correct),
                     "planted_caught": report.planted.to_dict(),
                     "false_flags": sum(len(o.extra) for o in correct),
                     "paragraphs_with_false_flags": sum(1 for o in correct if o.extra),
                     "coverage_correct_paragraphs": report.coverage(correct).to_dict(),
                     "misses": [{"id": o.id, "number": n} for o in report.outcomes for n in o.missed],
                     "false_flag_texts": [{"id": o.id, "text": f["text"]} for o in correct for f in o.extra]}
    return out


def perturbation_lines(table: dict) -> list[str]:
    lines = ["per meaning-preserving perturbation (paragraphs it changed):"]
    for kind, d in table.items():
        c, cov = d["planted_caught"], d["coverage_correct_paragraphs"]
        lines.append(f"  {kind:<11} {d['paragraphs']:>3} paragraphs, caught {c['k']}/{c['n']}, "
                     f"{d['false_flags']} false flags in {d['paragraphs_with_false_flags']}/{d['correct_paragraphs']} "
                     f"correct, coverage {cov['k']}/{cov['n']}")
    return lines
