"""Recompute the explorer's fact tables from the live data (crm_site.insight)."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand

from crm_site import insight


class Command(BaseCommand):
    help = "Rebuild the explorer's fact tables (all, or those named)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("facts", nargs="*", help="e.g. sales.deals")

    def handle(self, *args, facts: list[str], **options) -> None:
        known = {f.key for f in insight.facts()}
        unknown = sorted(set(facts) - known)
        if unknown:
            self.stderr.write(f"Unknown fact tables: {', '.join(unknown)}")
            self.stderr.write(f"Known: {', '.join(sorted(known))}")
            raise SystemExit(2)
        for key in sorted(facts or known):
            started = time.monotonic()
            rows = insight.rebuild(only=[key])[key]
            self.stdout.write(
                f"{key}: {rows} rows in {time.monotonic() - started:.1f} s"
            )
