"""The side-by-side benchmark behind ``make bench``: train, evaluate, report (``benchmarks/bench.py``)."""
