"""The distributed benchmark's published tables are what its result files say."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = sorted((ROOT / "benchmarks" / "results" / "distributed").glob("*.jsonl"))


@pytest.mark.parametrize("results", RESULTS, ids=[p.stem for p in RESULTS])
def test_the_published_table_is_rendered_from_its_results_file(results):
    out = subprocess.run(
        [sys.executable, "benchmarks/distributed.py", "table", str(results)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    published = results.with_suffix(".md")
    assert published.is_file(), (
        f"{published.name} is missing: python benchmarks/distributed.py table {results}"
    )
    assert published.read_text() == out, f"{published.name} differs from its results: render it again"


def test_a_bad_results_file_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "x.jsonl"
    bad.write_text('{"a": 1}\n')
    for arg in (str(bad), str(tmp_path / "none.jsonl")):
        out = subprocess.run(
            [sys.executable, "benchmarks/distributed.py", "table", arg],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        assert out.returncode == 2 and "Traceback" not in out.stderr
        assert out.stderr.strip().splitlines()[-1].startswith("benchmarks/distributed.py: error:")
