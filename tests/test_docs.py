"""The README and the documentation pages: every Python and shell block runs, the README stays short.

Blocks are read with markdown-it (myst-parser's parser). A page's Python blocks
run in order in one module namespace, its shell blocks in order with bash, all
in one fresh directory per page (with ``benchmarks/`` and ``results/`` linked
in), so a page reads like a session. A block preceded by
``<!-- not executed: REASON -->`` is skipped, and the reason must say why. The
gallery's examples are executed by the Sphinx build (``tox -e docs``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
MAX_README_LINES = 250

PYTHON = {"python", "py", "pycon"}
SHELL = {"bash", "sh", "shell", "console"}
SKIP = re.compile(r"<!--\s*not executed:\s*(?P<reason>.+?)\s*-->", re.S)

sys.path.insert(0, str(DOCS / "_ext"))


def pages() -> list[Path]:
    found = [README]
    for path in sorted(DOCS.rglob("*.md")):
        rel = path.relative_to(DOCS).parts
        if rel[0] in {"_build", "_generated", "auto_examples"} or rel[0].startswith("."):
            continue
        found.append(path)
    return found


def blocks(path: Path) -> list[tuple[int, str, str, str | None]]:
    """(line, language, code, reason to skip or None) of every Python and shell fence."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").parse(path.read_text(encoding="utf-8"))
    out, previous = [], None
    for tok in tokens:
        if tok.type == "fence":
            lang = (tok.info.split() or [""])[0].lower()
            if lang in PYTHON | SHELL:
                skip = (
                    SKIP.search(previous.content)
                    if previous is not None and previous.type == "html_block"
                    else None
                )
                out.append((tok.map[0] + 1, lang, tok.content, skip["reason"] if skip else None))
        if tok.type not in ("paragraph_close",):
            previous = tok
    return out


def _label(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", pages(), ids=_label)
def test_every_block_runs(path, tmp_path, monkeypatch):
    found = blocks(path)
    if not found:
        pytest.skip("no Python or shell blocks")
    # `python -m benchmarks` and the pages' relative paths work from here; the
    # package itself comes from the environment, as for a user
    for name in ("benchmarks", "results"):
        (tmp_path / name).symlink_to(ROOT / name)
    env = dict(os.environ)
    env.update(
        SUBSEL_CACHE_DIR=str(tmp_path / "cache"),
        SUBSEL_PROGRESS="0",
        MPLBACKEND="Agg",
        OMP_NUM_THREADS="1",
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
    )
    for key in ("SUBSEL_CACHE_DIR", "SUBSEL_PROGRESS", "MPLBACKEND"):
        monkeypatch.setenv(key, env[key])
    monkeypatch.chdir(tmp_path)
    module = types.ModuleType("docs_page_" + re.sub(r"\W", "_", path.stem))
    module.__file__ = str(tmp_path / "page.py")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    ran = 0
    for line, lang, code, reason in found:
        where = f"{_label(path)}:{line}"
        if reason is not None:
            assert len(reason.split()) >= 4, f"{where}: say why the block is not executed"
            continue
        if lang in PYTHON:
            try:
                exec(compile(code, where, "exec"), module.__dict__)
            except Exception as exc:
                raise AssertionError(f"{where}: the Python block failed: {exc!r}") from exc
        else:
            res = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", code],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert res.returncode == 0, f"{where}: the shell block failed:\n{res.stdout}\n{res.stderr}"
        ran += 1
    assert ran or all(r for *_, r in found)


def test_readme_is_short():
    n = len(README.read_text(encoding="utf-8").splitlines())
    assert n <= MAX_README_LINES, f"README.md has {n} lines; keep it at most {MAX_README_LINES}"


def test_readme_tables_are_generated_from_the_results():
    import published

    text = README.read_text(encoding="utf-8")
    found = published.readme_blocks(text)
    assert set(found) == set(published.GENERATED), "the README must carry every generated block"
    assert published.render_readme(text) == text, (
        "README.md's generated tables differ from results/: run python docs/_ext/published.py --write"
    )


def test_skip_marker_is_read():
    # the marker is recognised right before a fence, and only there
    md = DOCS / "guide" / "tests.md"
    found = blocks(md)
    assert found and found[0][3] and "test suite" in found[0][3]
