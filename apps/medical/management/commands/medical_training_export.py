"""Write reviewed draft versions as de-identified JSONL training rows (approved = final, rejected = sent back)."""
from __future__ import annotations

import json
import sys

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "De-identified training rows of reviewed medical drafts, one JSON object a line (stdout or --out)."

    def add_arguments(self, parser):
        parser.add_argument("--out", help="file to write (default: stdout)")

    def handle(self, *args, **opts):
        from apps.medical.services import training_export

        rows = training_export(via="cli")
        out = open(opts["out"], "w", encoding="utf-8") if opts["out"] else sys.stdout
        try:
            for row in rows:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
        finally:
            if opts["out"]:
                out.close()
        self.stderr.write(f"{len(rows)} row(s) written")
