"""The anchor libraries: which are installed, how to import them, and their results as NumPy.

Anchors are imported lazily, inside the sides that use them, so a missing library only turns
its rows into "not installed" and never stops the harness.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util

import numpy as np

__all__ = [
    "LIBRARIES",
    "Unavailable",
    "as_array",
    "autodiff_feature",
    "blas_report",
    "import_jax",
    "installed",
    "versions",
]

#: library name used by sides -> the module that must be importable
LIBRARIES = {
    "python": "math",
    "numpy": "numpy",
    "autodiff": "autodiff",
    "scipy": "scipy",
    "autograd": "autograd",
    "torch": "torch",
    "jax": "jax",
    "micrograd": "micrograd",
}

#: distributions whose versions go into the results
_DISTRIBUTIONS = ("numpy", "scipy", "autograd", "torch", "jax", "jaxlib", "micrograd",
                  "threadpoolctl")


class Unavailable(Exception):
    """Raised by a side whose ``autodiff`` feature does not exist yet ("not available")."""


def installed(library: str) -> bool:
    """Whether the module behind ``library`` can be imported (without importing it)."""
    return importlib.util.find_spec(LIBRARIES[library]) is not None


def autodiff_feature(path: str):
    """``ad.<path>`` (dotted, e.g. ``"optim.minimize"``), or :class:`Unavailable` if missing."""
    obj = importlib.import_module("autodiff")
    walked = "ad"
    for part in path.split("."):
        walked += "." + part
        if not hasattr(obj, part):
            try:  # a subpackage not imported by its parent's __init__
                obj = importlib.import_module(f"{obj.__name__}.{part}")
                continue
            except (ImportError, AttributeError):
                raise Unavailable(f"{walked} does not exist yet") from None
        obj = getattr(obj, part)
    return obj


def import_jax():
    """``jax`` with 64-bit floats enabled (the other sides compute in float64)."""
    jax = importlib.import_module("jax")
    jax.config.update("jax_enable_x64", True)
    return jax


def as_array(value) -> np.ndarray:
    """A side's result as a float64 NumPy array (torch tensors, JAX arrays, lists of them)."""
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # torch.Tensor
        return value.detach().cpu().numpy().astype(np.float64)
    if isinstance(value, (list, tuple)):
        return np.stack([as_array(item) for item in value]) if value else np.zeros(0)
    return np.asarray(value, dtype=np.float64)


def versions() -> dict:
    """Versions of NumPy, SciPy and the anchors (``None`` when not installed)."""
    found = {}
    for name in _DISTRIBUTIONS:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


def blas_report() -> dict:
    """Which BLAS / OpenMP libraries are loaded and which kernels they run (threadpoolctl).

    Call it after the anchors were imported, so their own BLAS (if any) is listed too.
    """
    report = {}
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        report["threadpoolctl"] = "not installed (pip install threadpoolctl)"
    else:
        keys = ("internal_api", "version", "architecture", "num_threads", "threading_layer",
                "filepath")
        report["threadpools"] = [{k: pool.get(k) for k in keys if k in pool}
                                 for pool in threadpool_info()]
    import sys

    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        report["torch"] = {"cpu_capability": torch.backends.cpu.get_cpu_capability(),
                           "num_threads": torch.get_num_threads(),
                           "mkl": torch.backends.mkl.is_available()}
    if "jax" in sys.modules:
        jax = sys.modules["jax"]
        report["jax"] = {"devices": [str(device) for device in jax.devices()]}
    return report
