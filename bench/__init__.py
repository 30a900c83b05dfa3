"""On-demand performance benchmarks for catalyst-tui (never part of the test suite).

Run ``.venv/bin/python bench/run.py [--quick] [--only NAME]`` or one target with
``.venv/bin/python -m bench.<name>``; see bench/README.md.
"""
