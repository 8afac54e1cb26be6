"""`manage.py bench NAME [options]`: every benchmark's options parse, each under its own name."""

import pytest
from django.core.management import CommandError

from bench.management.commands.bench import Command


def _parse(*argv: str):
    return Command().create_parser("manage.py", "bench").parse_args(list(argv))


def test_every_benchmark_takes_its_own_options_and_two_may_share_a_name():
    # bench sync and bench coupons both have --workers; each gets its own.
    assert _parse("sync", "--workers", "3", "--associates", "10").workers == 3
    assert _parse("coupons", "--workers", "1", "--campaign-only").campaign_only is True
    assert _parse("sidebar", "--customers", "5000").customers == 5000
    assert _parse("sidebar_phone", "--runs", "3").runs == 3


def test_an_option_of_another_benchmark_is_refused():
    with pytest.raises(CommandError, match="unrecognized arguments: --associates"):
        _parse("coupons", "--associates", "10")
