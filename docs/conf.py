"""Sphinx configuration of the subsel-plugins site (``tox -e docs``).

The API reference documents the public names only (what the packages export),
never the private ``_module`` paths, so it survives refactors of the internals.
Tables of strategies and of published results are generated at build time by
``_ext/subsel_docs.py`` from the registry and from the committed result files
under ``results/``; nothing in them is typed by hand.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# subsel_plugins comes from the environment (installed by tox, or PYTHONPATH);
# the repository root is appended (not prepended) so that only the
# not-installed ``benchmarks`` package and the gallery helpers come from it.
sys.path.insert(0, str(HERE / "_ext"))
sys.path.append(str(ROOT))

# The gallery runs on the CPU on one thread (the CI machine has two cores).
for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(var, "1")
os.environ.setdefault("SUBSEL_PROGRESS", "0")
os.environ.setdefault("MPLBACKEND", "Agg")

import subsel_plugins  # noqa: E402

project = "subsel-plugins"
author = "subsel-plugins contributors"
copyright = "subsel-plugins contributors, MIT license"
release = subsel_plugins.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "matplotlib.sphinxext.plot_directive",
    "sphinx-mathjax-offline",  # MathJax served from _static: no CDN request
    "subsel_docs",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_generated", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints", "tests"]
suppress_warnings: list[str] = []

myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# autodoc / autosummary / numpydoc
autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_typehints = "none"
autodoc_member_order = "groupwise"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = False
numpydoc_validation_checks: set[str] = set()

# No network at build time: intersphinx is off unless an inventory is on disk.
intersphinx_mapping: dict = {}

plot_include_source = True
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 100)]

sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/(plot|run)_",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
    "line_numbers": False,
    "min_reported_time": 1,
    "abort_on_example_error": True,
    "reset_modules": ("matplotlib",),
    "backreferences_dir": None,
    # its page loads scripts from CDNs; the site must work offline
    "write_computation_times": False,
}

html_theme = "pydata_sphinx_theme"
html_title = "subsel-plugins"
html_static_path = ["_static"]
templates_path = ["_templates"]
html_favicon = "_static/favicon.svg"
# the theme logs a console error for an empty mode: start from "auto"
html_context = {"default_mode": "auto"}
html_css_files = ["subsel.css"]
html_show_sourcelink = False
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
    # no external requests when the site is opened offline
    "icon_links": [],
}
html_sidebars = {"index": [], "auto_examples/index": []}
