"""Benchmarks: each measures a path of the pipelines against an anchor and prints the ratio.

Run them all with `python -m bench` (or `make bench`). They print; they assert nothing about
time, so a slow or busy machine never fails a build.
"""
