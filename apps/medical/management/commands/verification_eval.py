"""Evaluate draft verification on the planted-error corpus: caught / missed per error kind, false positives on
clean drafts, with 95 % Wilson intervals. Pure checks: no database, no model."""
from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Verification: planted errors caught/missed per kind and false positives on clean drafts."

    def add_arguments(self, parser):
        parser.add_argument("--path", help="a corpus JSONL file (default data/verification/corpus.jsonl)")
        parser.add_argument("--show", action="store_true", help="list every miss and false positive")
        parser.add_argument("--json", help="write the results to this file")

    def handle(self, *args, **opts):
        from apps.core.eval_stats import Proportion
        from apps.medical.verification_eval import CORPUS_PATH, OUTCOMES, evaluate_corpus, load_corpus

        path = opts["path"] or CORPUS_PATH
        try:
            rows = load_corpus(path)
        except (OSError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        if not rows:
            raise CommandError(f"no drafts in {path}")
        report = evaluate_corpus(rows)
        w = self.stdout.write
        w(f"{len(rows)} synthetic drafts from {path}: {report.planted} with one planted error, {report.clean} clean")
        w(f"{'kind':<28} {'n':>4} " + " ".join(f"{o:>17}" for o in OUTCOMES) + "  caught (95% CI)")
        for kind, counts in sorted(report.per_kind.items()):
            n = sum(counts.values())
            w(f"{kind:<28} {n:>4} " + " ".join(f"{counts[o]:>17}" for o in OUTCOMES)
              + f"  {Proportion(counts['caught'], n)}")
        w(f"caught by the right check: {report.caught}")
        w(f"blocked (any error):       {report.blocked}")
        w(f"clean drafts blocked by a hard error (false positives): {Proportion(report.false_positive, report.clean)}")
        w(f"clean drafts waiting only for an acknowledgement (unknown drug or fact): "
          f"{Proportion(report.needs_acknowledgement, report.clean)}")
        if opts["show"]:
            for row_id, what, messages in report.details:
                w(f"  {row_id} {what}: {messages[:300]}")
        if opts["json"]:
            with open(opts["json"], "w") as fh:
                json.dump(report.to_dict(), fh, indent=1)
            w(f"wrote {opts['json']}")
