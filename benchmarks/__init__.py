"""The benchmark harness behind ``tox -e bench``: ``python -m benchmarks --help``.

Runs a grid of datasets x feature domains x strategies x budgets x seeds
through the registered evaluation frameworks and writes, into one run
directory, ``results.jsonl`` (one line per finished cell; an interrupted run
resumes), ``table.md``, ``plots/*.png`` and ``manifest.json``.
Not installed with the package: run it from the repository root.
"""
