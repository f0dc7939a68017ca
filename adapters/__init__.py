"""Framework adapters, installed as ``subsel_plugins.adapters``.

Each submodule imports its framework lazily; importing this package needs
nothing beyond the core.
"""
