"""`manage.py suggestions_eval --baskets FILE.csv`: the engine against the TopFreq baselines on a baskets file,
by the next-basket protocol of suggestions.evaluation."""

import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from suggestions.evaluation import ENGINE, METRICS, Report, baskets_read, evaluate


class Command(BaseCommand):
    help = "Evaluate the suggestion engine and the G-/P-/GP-TopFreq baselines on a customer_id,date,item_id CSV."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--baskets", type=Path, required=True, help="CSV with columns customer_id,date,item_id")
        parser.add_argument("--folds", type=int, default=3)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--json", action="store_true", help="also print the results as one JSON object, last")

    def handle(self, *args, **options) -> None:
        path: Path = options["baskets"]
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        if options["folds"] < 1:
            raise CommandError("--folds must be at least 1.")
        try:
            baskets = baskets_read(path)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        quiet = options["verbosity"] == 0
        report = evaluate(
            baskets,
            folds=options["folds"],
            seed=options["seed"],
            progress=None if quiet else (lambda message: print(message, file=sys.stderr)),
        )
        self._table(path, report)
        if options["json"]:
            self.stdout.write(json.dumps(_as_json(path, report)))

    def _table(self, path: Path, report: Report) -> None:
        metrics = report.metrics
        width = max(len(method) for method in metrics) + 2
        self.stdout.write(
            f"{path.name}: {report.customers} customers, {report.items} items, {report.history_baskets} history "
            f"baskets; {len(report.folds)} fold(s), seed {report.seed}; test metrics averaged over folds"
        )
        self.stdout.write(f"{'method':<{width}}" + "".join(f"{name:>11}" for name in METRICS))
        for method, values in metrics.items():
            self.stdout.write(f"{method:<{width}}" + "".join(f"{values[name]:>11.4f}" for name in METRICS))
        for baseline in ("GP-TopFreq", *(m for m in metrics if m.startswith("GP-TopFreq,"))):
            ratio = metrics[ENGINE]["Recall@10"] / max(metrics[baseline]["Recall@10"], 1e-12)
            self.stdout.write(f"engine / {baseline}, Recall@10: {ratio:.3f}×")
        for fold in report.folds:
            self.stdout.write(
                f"fold {fold.fold}: recently bought items {fold.recency_choice} (chosen on validation), "
                f"build {fold.build_seconds:.1f} s, suggest p95 {fold.suggest_ms_p95:.1f} ms"
            )
        self.stdout.write(f"{report.seconds:.1f} s in all")


def _as_json(path: Path, report: Report) -> dict:
    return {
        "baskets": str(path),
        "customers": report.customers,
        "items": report.items,
        "history_baskets": report.history_baskets,
        "folds": len(report.folds),
        "seed": report.seed,
        "metrics": report.metrics,
        "per_fold": [
            {
                "fold": fold.fold,
                "metrics": fold.metrics,
                "replenish_fraction": fold.replenish_fraction,
                "validation_recall_at_10": fold.validation_recall,
                "build_seconds": round(fold.build_seconds, 3),
                "suggest_ms_p95": round(fold.suggest_ms_p95, 3),
            }
            for fold in report.folds
        ],
        "seconds": round(report.seconds, 3),
    }
