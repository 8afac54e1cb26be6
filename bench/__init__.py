"""Benchmarks run by `python manage.py bench NAME`; each module has `run(*, scale, log) -> dict`."""
