"""Sphinx extension: pages generated at build time from the code and the committed results.

Writes, before any page is read, into ``docs/_generated/`` (git-ignored files
of this extension only; other generators share the folder):

``strategies.md``
    Every registered strategy: its class, its parameters with their defaults
    (read from the signature) and its one-line description, straight from the
    registry, plus the ``<first>_then_<second>`` combinations it derives.
``quick_compact.md``
    The compact quick-preset table the README carries, from ``results/quick``.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import published

GENERATED = Path(__file__).resolve().parents[1] / "_generated"


def _default(value) -> str:
    if value is inspect.Parameter.empty:
        return ""
    return f"={value!r}"


#: Parameters every strategy takes; the table names them once, under it.
COMMON = ("random_state", "features")


def _params(cls) -> str:
    sig = inspect.signature(cls)
    parts = [
        f"`{name}{_default(p.default)}`"
        for name, p in sig.parameters.items()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and name not in COMMON
    ]
    return ", ".join(parts) or "(only the common ones)"


def _class_ref(cls) -> str:
    import subsel_plugins

    if getattr(subsel_plugins, cls.__name__, None) is cls:
        return f"{{py:class}}`~subsel_plugins.{cls.__name__}`"
    return f"`{cls.__module__}.{cls.__qualname__}`"


def strategies_markdown() -> str:
    from subsel_plugins import ThenQuery
    from subsel_plugins.registry import THEN_ALIASES, registrations

    regs = registrations("strategies")
    lines = [
        "| name (class) | parameters, defaults from the signature | what it does (plugin) |",
        "|---|---|---|",
    ]
    for name, reg in regs.items():
        desc = reg.description.replace("|", "\\|")
        lines.append(f"| `{name}` ({_class_ref(reg.obj)}) | {_params(reg.obj)} | {desc} (`{reg.plugin}`) |")
    seconds = ", ".join(f"`{k}` ({v})" for k, v in THEN_ALIASES.items())
    lines.append(
        f"| `<first>_then_<second>` ({_class_ref(ThenQuery)}) | {_params(ThenQuery)}; "
        "`first__<param>`, `then__<param>`, or a parameter only one part takes | "
        f"`first` proposes `factor` x budget candidates, `second` keeps the budget; second in {seconds} |"
    )
    combos = [f"`{b}_then_{s}`" for b in regs for s in THEN_ALIASES]
    common = ", ".join(f"`{c}`" for c in COMMON)
    return (
        "\n".join(lines)
        + f"\n\nEvery strategy also takes {common}.\n"
        + f"\n{len(regs)} registered strategies and {len(combos)} combinations: "
        + ", ".join(combos)
        + ".\n"
    )


def generate(app=None) -> None:
    GENERATED.mkdir(exist_ok=True)
    outputs = {
        "strategies.md": strategies_markdown(),
        "quick_compact.md": published.compact_table(),
    }
    for name, text in outputs.items():
        path = GENERATED / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")


_OPTIONAL = re.compile(r"^<!-- subsel-docs: optional pages \((?P<names>[\w, ]+)\) -->$", re.M)


def optional_pages(app, docname, source):
    """Expand ``<!-- subsel-docs: optional pages (a, b) -->`` in a toctree to the pages that exist.

    The guide lists pages other parts of the project write (the evidence and
    semi-supervised results pages); a branch without them still builds.
    """

    def sub(m):
        folder = Path(app.srcdir) / Path(docname).parent
        names = [n.strip() for n in m["names"].split(",")]
        return "\n".join(n for n in names if any((folder / f"{n}{ext}").is_file() for ext in (".md", ".rst")))

    source[0] = _OPTIONAL.sub(sub, source[0])


def setup(app):
    app.connect("builder-inited", generate)
    app.connect("source-read", optional_pages)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
