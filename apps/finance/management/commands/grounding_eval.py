"""Evaluate numeric grounding on paragraphs with planted errors: caught / planted per error kind, false flags
on correct paragraphs, with 95 % Wilson intervals. Pure checks: no database, no model."""
from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Grounding: planted numeric errors caught per kind, false flags on correct paragraphs."

    def add_arguments(self, parser):
        parser.add_argument("--set", dest="path", help="a JSONL set (default data/finance/grounding/dev.jsonl)")
        parser.add_argument("--show", action="store_true", help="list every miss and extra flag")
        parser.add_argument("--json", help="write the results to this file")
        parser.add_argument("--perturb", action="store_true",
                            help="also measure each meaning-preserving perturbation (apps.finance.grounding_perturb)")
        parser.add_argument("--seed", type=int, default=0, help="seed of the perturbations")

    def handle(self, *args, **opts):
        from apps.finance.grounding_eval import DEV_PATH, evaluate, load_set, summary_lines

        path = opts["path"] or DEV_PATH
        try:
            rows = load_set(path)
            report = evaluate(rows)
        except (OSError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        if not rows:
            raise CommandError(f"no paragraphs in {path}")
        for line in summary_lines(report):
            self.stdout.write(line)
        data = {"set": str(path), **report.to_dict()}
        if opts["perturb"]:
            from apps.finance.grounding_eval import demo_facts, perturbation_lines, perturbation_table

            table = perturbation_table(rows, seed=opts["seed"], facts=demo_facts())
            for line in perturbation_lines(table):
                self.stdout.write(line)
            data["perturbations"] = {"seed": opts["seed"], **table}
        if opts["show"]:
            for miss in data["misses"]:
                self.stdout.write(f"MISS  {miss['id']}: {miss['number']}")
            for flag in data["extra_flags"]:
                self.stdout.write(f"FLAG  {flag['id']} ({'correct' if flag['correct'] else 'error'} paragraph): "
                                  f"{flag['text']} [{flag['kind']}] expected {flag['expected']} = "
                                  f"{flag['expected_display']}")
            for number in data["unattributed_numbers"]:
                self.stdout.write(f"UNATTR {number['id']} ({'correct' if number['correct'] else 'error'} paragraph): "
                                  f"{number['text']}")
        if opts["json"]:
            with open(opts["json"], "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=2)
                fh.write("\n")
