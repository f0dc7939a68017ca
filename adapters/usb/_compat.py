"""Living with semilearn 0.3.2: its import-time dependencies and its CUDA-only code.

Two narrow, temporary shims, each a context that restores everything it touched:

:func:`import_semilearn`
    ``import semilearn`` imports, at import time, packages that classic image
    SSL never calls: ``wandb`` and ``aim`` (logging hooks used only with
    ``use_wandb``/``use_aim``), ``transformers`` and ``torchaudio`` (NLP and
    audio data and nets), ``timm`` (ViT nets), ``skimage`` (a MedMNIST
    montage helper) and ``torch.utils.tensorboard`` (used only with
    ``use_tensorboard``; it needs the ``tensorboard`` package). For each of
    these that is *not installed*, a placeholder module is served while
    ``semilearn`` is being imported, and removed from ``sys.modules`` right
    after: a later ``import wandb`` anywhere else fails (or succeeds) exactly as
    it would without us. Inside semilearn, touching a placeholder raises
    :class:`MissingOptionalDependency` naming the package to install. Packages
    semilearn really needs for image SSL (``ruamel.yaml<0.18``, ``progress``,
    torch, torchvision, scikit-learn) come with the ``[usb]`` extra and are
    never stubbed.

:func:`cpu_device`
    semilearn calls ``.cuda(...)``, ``torch.cuda.set_device``,
    ``torch.cuda.synchronize`` and ``torch.cuda.Event`` unconditionally. For
    the duration of a CPU run only, ``Tensor.cuda`` and ``Module.cuda`` return
    their receiver unchanged (it stays on the CPU), ``set_device`` and
    ``synchronize`` do nothing, and ``Event`` is a wall-clock timer. These are
    process-wide while the run lasts (Python offers no narrower hook for a
    method of ``torch.Tensor``), so do not run other CUDA work in other
    threads of the same process during a CPU run.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
import time
import types
import warnings

from ...errors import MissingDependencyError

#: Modules semilearn imports at import time but that image SSL never needs,
#: mapped to (the distribution that provides it, what semilearn uses it for).
OPTIONAL_MODULES = {
    "wandb": ("wandb", "the use_wandb logging hook"),
    "aim": ("aim", "the use_aim logging hook"),
    "timm": ("timm", "the ViT backbones (vit_*)"),
    "transformers": ("transformers", "the NLP and audio datasets and backbones"),
    "torchaudio": ("torchaudio", "the audio datasets"),
    "skimage": ("scikit-image", "the MedMNIST montage helper"),
    "torch.utils.tensorboard": ("tensorboard", "use_tensorboard"),
}

#: Module whose absence means the optional module above cannot import.
_PROBE = {"torch.utils.tensorboard": "tensorboard"}

_import_lock = threading.Lock()


class MissingOptionalDependency(MissingDependencyError):
    """semilearn reached a feature whose package is not installed."""


def _message(root: str, attr: str) -> str:
    dist, used_for = OPTIONAL_MODULES[root]
    return (
        f"semilearn needs the package {dist!r} for {used_for} (it touched {root}.{attr}), and it is not "
        f"installed: pip install {dist}, or turn that feature off in the config."
    )


class _MissingMeta(type):
    """Metaclass of placeholders: a class (so type annotations accept it) that cannot be used."""

    def __call__(cls, *args, **kwargs):
        raise MissingOptionalDependency(cls._subsel_message)

    def __getattr__(cls, name):
        if name.startswith("_"):
            raise AttributeError(name)
        raise MissingOptionalDependency(cls._subsel_message)


class _StubModule(types.ModuleType):
    """A module every public attribute of which is an unusable placeholder class."""

    def __init__(self, name: str, root: str):
        super().__init__(name, f"placeholder for the missing optional module {name!r} (subsel-plugins)")
        self.__path__ = []  # a package, so ``from root.sub import x`` resolves
        self._subsel_root = root

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        placeholder = _MissingMeta(
            name, (), {"_subsel_message": _message(self._subsel_root, name), "__module__": self.__name__}
        )
        setattr(self, name, placeholder)
        return placeholder


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, roots):
        self.roots = tuple(roots)
        self.created: list[str] = []

    def _root_of(self, fullname):
        for root in self.roots:
            if fullname == root or fullname.startswith(root + "."):
                return root
        return None

    def find_spec(self, fullname, path=None, target=None):
        root = self._root_of(fullname)
        if root is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

    def create_module(self, spec):
        self.created.append(spec.name)
        return _StubModule(spec.name, self._root_of(spec.name))

    def exec_module(self, module):
        pass


def missing_optional_modules() -> list[str]:
    """The modules of :data:`OPTIONAL_MODULES` that cannot be imported here."""
    missing = []
    for name in OPTIONAL_MODULES:
        probe = _PROBE.get(name, name)
        try:
            found = importlib.util.find_spec(probe) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(name)
    return missing


def import_semilearn():
    """Import and return the ``semilearn`` package, with the temporary stubs described above.

    The CPU-sized networks of :mod:`._nets` (``subsel_cnn``) are registered
    with its network builder on the way.

    Raises
    ------
    ImportError
        When semilearn itself, or a package it needs for image SSL, is missing;
        the message names the install commands.
    """
    module = _import_semilearn()
    from ._nets import register_nets

    register_nets()
    return module


def _import_semilearn():
    if "semilearn" in sys.modules:
        return sys.modules["semilearn"]
    with _import_lock:
        if "semilearn" in sys.modules:
            return sys.modules["semilearn"]
        if importlib.util.find_spec("semilearn") is None:
            raise MissingDependencyError(
                "the USB adapter needs semilearn 0.3.2, installed without its dependencies: "
                "pip install 'subsel-plugins[usb]' && pip install --no-deps semilearn==0.3.2"
            )
        finder = _StubFinder(missing_optional_modules())
        sys.meta_path.insert(0, finder)
        try:
            with warnings.catch_warnings():
                # semilearn's modules use deprecated torch APIs at import time
                warnings.simplefilter("ignore", FutureWarning)
                warnings.simplefilter("ignore", DeprecationWarning)
                return importlib.import_module("semilearn")
        except ImportError as exc:
            if isinstance(exc, MissingOptionalDependency):
                raise
            raise MissingDependencyError(
                f"importing semilearn failed ({exc}); the USB adapter needs the [usb] extra "
                "(ruamel.yaml<0.18, progress, torch, torchvision): pip install 'subsel-plugins[usb]'"
            ) from exc
        finally:
            sys.meta_path.remove(finder)
            _remove_stubs(finder.created)


def _remove_stubs(names):
    for name in sorted(names, key=len, reverse=True):
        module = sys.modules.get(name)
        if isinstance(module, _StubModule):
            del sys.modules[name]
        parent_name, _, child = name.rpartition(".")
        parent = sys.modules.get(parent_name) if parent_name else None
        if parent is not None and isinstance(getattr(parent, child, None), _StubModule):
            delattr(parent, child)


class _CpuEvent:
    """Stand-in for ``torch.cuda.Event``: records wall-clock time."""

    def __init__(self, enable_timing=False, blocking=False, interprocess=False):
        self._t = None

    def record(self, stream=None):
        self._t = time.perf_counter()

    def synchronize(self):
        pass

    def query(self):
        return True

    def wait(self, stream=None):
        pass

    def elapsed_time(self, end_event) -> float:
        """Milliseconds from this event to ``end_event``, like CUDA events."""
        if self._t is None or end_event._t is None:
            return 0.0
        return (end_event._t - self._t) * 1000.0


def _stay(self, *args, **kwargs):
    return self


@contextlib.contextmanager
def cpu_device():
    """Run semilearn's CUDA-only code on the CPU for the duration of the block.

    Everything patched is restored on exit, also on error.
    """
    import torch

    saved = [
        (torch.Tensor, "cuda", torch.Tensor.cuda),
        (torch.nn.Module, "cuda", torch.nn.Module.cuda),
        (torch.cuda, "Event", torch.cuda.Event),
        (torch.cuda, "synchronize", torch.cuda.synchronize),
        (torch.cuda, "set_device", torch.cuda.set_device),
    ]
    torch.Tensor.cuda = _stay
    torch.nn.Module.cuda = _stay
    torch.cuda.Event = _CpuEvent
    torch.cuda.synchronize = lambda device=None: None
    torch.cuda.set_device = lambda device: None
    try:
        with warnings.catch_warnings():
            # semilearn builds a torch.cuda.amp.GradScaler unconditionally; on the CPU it
            # disables itself with a warning that says nothing useful here
            warnings.filterwarnings("ignore", message=".*GradScaler.*")
            warnings.filterwarnings("ignore", message=".*CUDA is not available.*")
            yield
    finally:
        for owner, name, value in saved:
            setattr(owner, name, value)
