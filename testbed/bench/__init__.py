"""`make bench`: this package side by side with Debian's uWSGI of the same suite
(2.0.21 in bookworm, 2.0.28 in trixie), gunicorn and nginx.

Modules, one job each: config (sizes), log (progress), systems (the clean roots and what
serves in them), wrk (HTTP load), fig_* (one figure group each), compare (vs the previous
JSON), plots and report (BENCHMARKS.md). Run through scripts/bench.
"""
