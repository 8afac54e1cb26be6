"""`manage.py check_integrity [--show N]`: verify the ledgers' invariants (`omni.integrity`); exits 1 on any finding."""

from django.core.management.base import BaseCommand, CommandError

from omni.integrity import integrity_checks


class Command(BaseCommand):
    help = "Verify the ledgers (coupons, merges, friendships) from their rows; exit status 1 when anything is off."

    def add_arguments(self, parser):
        parser.add_argument("--show", type=int, default=10, help="findings to print per check (default 10)")

    def handle(self, *args, show: int, **options):
        broken = 0
        for name, (what, check) in integrity_checks().items():
            findings = check()
            if not findings:
                self.stdout.write(f"ok      {name}: {what}")
                continue
            broken += 1
            self.stdout.write(f"BROKEN  {name}: {what} — {len(findings)} finding(s)")
            for finding in findings[:show]:
                self.stdout.write(f"          {finding.subject}: {finding.detail}")
            if len(findings) > show:
                self.stdout.write(f"          … and {len(findings) - show} more")
        if broken:
            raise CommandError(f"{broken} integrity check(s) found problems", returncode=1)
        self.stdout.write(f"All {len(integrity_checks())} integrity checks passed.")
