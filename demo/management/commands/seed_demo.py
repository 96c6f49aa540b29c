"""`manage.py seed_demo`: the demo publishers, listings, campaigns, leads and logins."""

import os
import secrets

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from demo import catalogue, seeding


class Command(BaseCommand):
    help = (
        "Seed demo publishers, listings of every type on both storefronts, campaigns, a "
        "verified HTTPS CRM target, leads with activities and deliveries, and two logins. "
        "Running it again creates nothing new; leads only top up to --leads."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--leads",
            type=int,
            default=5_000,
            help="Total demo leads across the demo publishers (default 5000).",
        )
        parser.add_argument(
            "--quiet", action="store_true", help="Print only the logins, not progress or counts."
        )

    def handle(self, *args, leads: int, quiet: bool, **options):
        if leads < 0:
            raise CommandError("--leads must be 0 or more.")
        report = seeding.seed_demo(
            leads=leads,
            passwords=self._passwords(),
            progress=(lambda *_: None) if quiet else self._progress,
        )
        if not quiet:
            self._summary(report, requested=leads)
        self._logins(report)

    @staticmethod
    def _passwords() -> dict[str, str]:
        """DEMO_PASSWORD for both logins; else the fixed demo passwords, but only with DEBUG
        on: outside development a superuser must never get a password printed in the docs."""
        shared = os.environ.get("DEMO_PASSWORD", "")
        if shared:
            return dict.fromkeys(catalogue.DEFAULT_PASSWORDS, shared)
        if settings.DEBUG:
            return dict(catalogue.DEFAULT_PASSWORDS)
        return {name: secrets.token_urlsafe(12) for name in catalogue.DEFAULT_PASSWORDS}

    def _progress(self, done: int, total: int, elapsed: float) -> None:
        rate = done / elapsed if elapsed else 0
        self.stdout.write(f"  leads: {done:,} of {total:,} ({rate:,.0f} leads/s, {elapsed:.1f} s)")

    def _summary(self, report: seeding.SeedReport, *, requested: int) -> None:
        self.stdout.write("Demo data (created / already there):")
        for kind in seeding.REPORT_KINDS:
            line = f"  {kind:<18} {report.created[kind]:>10,} / {report.found[kind]:,}"
            self.stdout.write(line)
        for name in report.drafts:
            self.stdout.write(f"  {name} stays a draft: it has no verified CRM target yet.")
        if report.found["leads"] > requested:
            self.stdout.write(f"  ({report.found['leads']:,} leads exist; --leads never deletes.)")
        if not report.created_anything:
            self.stdout.write(
                self.style.SUCCESS("Nothing created: the demo data is already there.")
            )
        else:
            self.stdout.write(self.style.SUCCESS("Demo data seeded."))

    def _logins(self, report: seeding.SeedReport) -> None:
        self.stdout.write("Logins:")
        for login in report.logins:
            password = login.password or "(set when it was first seeded; not shown again)"
            self.stdout.write(f"  {login.username} / {password}    {login.role}")
