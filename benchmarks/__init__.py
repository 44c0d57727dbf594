"""`python -m benchmarks`: what hosts and agents pay for this server, as ratios.

Not part of the test suite and never imported by the server. Every comparison runs
both sides in the same process, interleaved, and reports medians, because the machines
it runs on are shared and noisy. See `docs/benchmarks.md`.
"""
