"""Evaluate triage on the synthetic ESI vignettes: the rules alone, and with --model the model alone and the
model combined with the rules (what the service stores). Prints accuracy and under-/over-triage rates.

With --model the command runs the model in this process (the worker's engine code, not a Celery task): it is
an offline evaluation, like `make bench`. It uses the medical domain's active adapter unless --base is given.
"""
from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Triage accuracy and under-/over-triage on the synthetic vignettes (rules; with --model: model, both)."

    def add_arguments(self, parser):
        parser.add_argument("--split", default="heldout", choices=["train", "heldout"])
        parser.add_argument("--path", help="a vignette JSONL file instead of the split's")
        parser.add_argument("--model", action="store_true", help="also run the model (slow on a CPU)")
        parser.add_argument("--base", action="store_true", help="with --model: the base model, no adapter")
        parser.add_argument("--limit", type=int, default=0, help="evaluate only the first N vignettes")
        parser.add_argument("--max-tokens", type=int, default=0,
                            help="triage JSON budget (default PLUMBLINE_MEDICAL_TRIAGE_TOKENS)")

    def handle(self, *args, **opts):
        from apps.medical.triage_eval import evaluate, load_vignettes, vignette_path
        from apps.medical.triage_rules import combine, rules_triage

        path = opts["path"] or vignette_path(opts["split"])
        try:
            vignettes = load_vignettes(path)
        except (OSError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        if opts["limit"]:
            vignettes = vignettes[: opts["limit"]]
        if not vignettes:
            raise CommandError(f"no vignettes in {path}")
        rules = [rules_triage(v.case) for v in vignettes]
        rows = [("rules", evaluate((r.level, v.esi) for r, v in zip(rules, vignettes, strict=True)), "")]
        if opts["model"]:
            levels, unusable, seconds = self._model_levels(vignettes, opts)
            usable = [(lv, v.esi) for lv, v in zip(levels, vignettes, strict=True) if lv is not None]
            note = f"{unusable} unusable answer(s) left out" if unusable else ""
            if usable:
                rows.append(("model", evaluate(usable), note))
            both = [(combine(lv, r).level, v.esi) for lv, r, v in zip(levels, rules, vignettes, strict=True)]
            rows.append(("model+rules", evaluate(both), f"{seconds:.0f} s of model time"))
        self.stdout.write(f"{len(vignettes)} synthetic vignettes from {path}")
        self.stdout.write(f"{'predictor':<12} {'n':>4} {'accuracy':>9} {'under':>7} {'over':>7}  note")
        for name, m, note in rows:
            self.stdout.write(f"{name:<12} {m.n:>4} {m.accuracy:>9.3f} {m.under_triage_rate:>7.3f} "
                              f"{m.over_triage_rate:>7.3f}  {note}")

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
        from apps.generation.runtime import get_engine

        get_engine().stop()  # end the engine's thread before the interpreter exits
        return levels, unusable, time.monotonic() - start
