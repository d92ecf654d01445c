"""`make bench`: the benchmarks of bench/README.md (not tests: pytest never collects them)."""
