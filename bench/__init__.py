"""Benchmarks for the performance targets in SPEC.md: they print figures and never assert.

Run them all with `python -m bench`, or one with `python -m bench.<name>` (see bench/README.md).
Not tests: pytest collects only `tests/`, and no module here is named `test_*`.
"""
