"""The built wheel ships subsel_plugins (adapters included) and nothing top-level besides."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    build = tmp_path_factory.mktemp("build") / "src"
    # build from a clean copy so stale build/ or egg-info dirs can't leak into the wheel
    shutil.copytree(
        ROOT,
        build,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", ".tox", "build", "dist", "*.egg-info", "__pycache__", "bench-results", "runs"
        ),
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out),
            str(build),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (whl,) = out.glob("subsel_plugins-*.whl")
    with zipfile.ZipFile(whl) as zf:
        return zf.namelist()


def test_wheel_holds_the_package_and_its_adapters(wheel):
    assert "subsel_plugins/__init__.py" in wheel
    assert "subsel_plugins/adapters/__init__.py" in wheel
    assert "subsel_plugins/strategies/_gram_schmidt.py" in wheel


def test_wheel_has_no_stray_top_level_packages(wheel):
    top = {name.split("/")[0] for name in wheel}
    top = {t for t in top if not t.endswith(".dist-info")}
    assert top == {"subsel_plugins"}, top


def test_wheel_declares_entry_points(wheel):
    (ep,) = [n for n in wheel if n.endswith(".dist-info/entry_points.txt")]
    assert ep
