"""The core works without the optional dependencies (torch, modAL, scikit-activeml, semilearn)."""

import os
import subprocess
import sys

import numpy as np

BLOCK = (
    "import sys\n"
    "class Block:\n"
    "    names = ('torch', 'torchvision', 'modAL', 'skactiveml', 'semilearn', 'matplotlib')\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name.split('.')[0] in self.names:\n"
    "            raise ModuleNotFoundError(f'blocked for this test: {name}')\n"
    "sys.meta_path.insert(0, Block())\n"
)


def run_blocked(code: str):
    # cwd: outside the repository root, whose subsel_plugins/ source dir would shadow the install
    return subprocess.run(
        [sys.executable, "-c", BLOCK + code], capture_output=True, text=True, cwd=os.path.dirname(__file__)
    )


def test_registry_and_strategies_load_without_optional_dependencies():
    out = run_blocked(
        "import subsel_plugins as s\n"
        "from subsel_plugins import registry\n"
        "for kind in registry.KINDS: registry.registrations(kind)\n"
        "import numpy as np\n"
        "X = np.random.default_rng(0).normal(size=(50, 4))\n"
        "for name in s.available_strategies(): s.get_strategy(name, random_state=0).select(X, 3)\n"
        "print('ok')\n"
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("ok")


def test_cli_select_without_optional_dependencies(tmp_path):
    np.save(tmp_path / "f.npy", np.random.default_rng(0).normal(size=(40, 5)))
    out = run_blocked(
        "from subsel_plugins.cli import main\n"
        f"raise SystemExit(main(['select', {str(tmp_path / 'f.npy')!r}, '-s', 'gram_schmidt', '-b', '3']))\n"
    )
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.split()) == 3
