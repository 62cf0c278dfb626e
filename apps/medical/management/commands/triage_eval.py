"""Evaluate triage on vignette sets: the rules alone (the model proposing ESI 5), and with --model the model
alone and the model combined with the rules (what the service stores).

Prints, per predictor: exact level, under- and over-triage per ESI level with 95 % Wilson intervals, the
ESI 1-2 under-triage count, and the confusion matrix. With --perturb it also rewrites every vignette with
each meaning-preserving perturbation of apps.medical.perturb (abbreviations, misspellings, synonyms,
negated distractors, reordering, case) and reports the rules on the perturbed cases and how many levels
changed. --json writes everything to a file.

With --model the command runs the model in this process (the worker's engine code, not a Celery task): it is
an offline evaluation, like `make bench`. It uses the medical domain's active adapter unless --base is given.
"""
from __future__ import annotations

import json
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Triage accuracy, per-level under-/over-triage with 95% CIs (rules; with --model: model, both)."

    def add_arguments(self, parser):
        from apps.medical.triage_eval import SPLITS

        parser.add_argument("--split", action="append", choices=sorted(SPLITS),
                            help="vignette set(s); default heldout, independent-dev and independent-test")
        parser.add_argument("--path", action="append", help="a vignette JSONL file (repeatable)")
        parser.add_argument("--perturb", action="store_true", help="also evaluate the rules on perturbed copies")
        parser.add_argument("--seed", type=int, default=0, help="perturbation seed")
        parser.add_argument("--model", action="store_true", help="also run the model (slow on a CPU)")
        parser.add_argument("--base", action="store_true", help="with --model: the base model, no adapter")
        parser.add_argument("--limit", type=int, default=0, help="evaluate only the first N vignettes of each set")
        parser.add_argument("--max-tokens", type=int, default=0,
                            help="triage JSON budget (default PLUMBLINE_MEDICAL_TRIAGE_TOKENS)")
        parser.add_argument("--show-errors", action="store_true", help="list the under-triaged vignettes")
        parser.add_argument("--json", help="write the results to this file")

    def handle(self, *args, **opts):
        from apps.medical.triage_eval import load_vignettes, vignette_path

        sets = [(name, vignette_path(name)) for name in (opts["split"] or [])]
        sets += [(path, path) for path in (opts["path"] or [])]
        if not sets:
            sets = [(name, vignette_path(name)) for name in ("heldout", "independent-dev", "independent-test")]
        results = {}
        for name, path in sets:
            try:
                vignettes = load_vignettes(path)
            except (OSError, ValueError) as exc:
                raise CommandError(str(exc)) from exc
            if opts["limit"]:
                vignettes = vignettes[: opts["limit"]]
            if not vignettes:
                raise CommandError(f"no vignettes in {path}")
            results[str(name)] = self._evaluate(str(name), path, vignettes, opts)
        if opts["json"]:
            with open(opts["json"], "w") as fh:
                json.dump(results, fh, indent=1)
            self.stdout.write(f"wrote {opts['json']}")

    def _evaluate(self, name, path, vignettes, opts) -> dict:
        from apps.medical.triage_eval import evaluate, level_report
        from apps.medical.triage_rules import combine, rules_triage

        self.stdout.write(f"\n=== {name}: {len(vignettes)} synthetic vignettes from {path}")
        rules = [rules_triage(v.case) for v in vignettes]
        rows = {"rules": [(r.level, v.esi) for r, v in zip(rules, vignettes, strict=True)]}
        if opts["show_errors"]:
            for r, v in zip(rules, vignettes, strict=True):
                if r.level > v.esi:
                    self.stdout.write(f"  under-triaged {v.id}: label {v.esi}, rules {r.level} ({r.rule}: "
                                      f"{r.reason}) | {v.case.chief_complaint[:90]}")
        notes = {}
        if opts["model"]:
            levels, unusable, seconds = self._model_levels(vignettes, opts)
            rows["model"] = [(lv, v.esi) for lv, v in zip(levels, vignettes, strict=True) if lv is not None]
            notes["model"] = f"{unusable} unusable answer(s) left out" if unusable else ""
            rows["model+rules"] = [(combine(lv, r).level, v.esi) for lv, r, v in zip(levels, rules, vignettes,
                                                                                     strict=True)]
            notes["model+rules"] = f"{seconds:.0f} s of model time"
        if opts["perturb"]:
            perturbed, changed = self._perturbed(vignettes, rules, opts["seed"])
            rows["rules, perturbed"] = perturbed
            notes["rules, perturbed"] = (f"{len(perturbed)} perturbed cases; level changed in {changed} "
                                         f"({changed / max(1, len(perturbed)):.3f})")
        out = {}
        for predictor, pairs in rows.items():
            if not pairs:
                continue
            report, metrics = level_report(pairs), evaluate(pairs)
            self.stdout.write(f"\n-- {predictor}  {notes.get(predictor, '')}")
            for line in report.lines():
                self.stdout.write("   " + line)
            self.stdout.write("   confusion (rows: label, columns: predicted)")
            for line in metrics.confusion_table().splitlines():
                self.stdout.write("   " + line)
            out[predictor] = {**report.to_dict(), "confusion": [list(r) for r in metrics.confusion],
                              "note": notes.get(predictor, "")}
        return out

    def _perturbed(self, vignettes, rules, seed):
        from apps.medical.perturb import perturbations
        from apps.medical.triage_rules import rules_triage

        pairs, changed = [], 0
        for v, original in zip(vignettes, rules, strict=True):
            for _kind, case in perturbations(v.case, seed=seed):
                level = rules_triage(case).level
                pairs.append((level, v.esi))
                changed += level != original.level
        return pairs, changed

    def _model_levels(self, vignettes, opts) -> tuple[list[int | None], int, float]:
        from apps.generation.model_api import adapter_for_domain, generate_text
        from apps.medical.prompts import SYSTEM, TRIAGE_SCHEMA, triage_prompt
        from apps.medical.services import parse_triage_output

        adapter = None if opts["base"] else adapter_for_domain("medical")
        budget = opts["max_tokens"] or settings.PLUMBLINE_MEDICAL_TRIAGE_TOKENS
        levels, unusable, start = [], 0, time.monotonic()
        for v in vignettes:
            result = generate_text(prompt=triage_prompt(v.case), adapter=adapter, system=SYSTEM, max_tokens=budget,
                                   json_schema=TRIAGE_SCHEMA)
            level = parse_triage_output(result.text)[0] if result.finish_reason not in ("error", "deadline") else None
            unusable += level is None
            levels.append(level)
        from apps.generation.runtime import stop_engine

        stop_engine()  # end the engine's thread (if this process built one) before the interpreter exits
        return levels, unusable, time.monotonic() - start
