"""``ad.nn.save`` / ``ad.nn.load``: a module's parameters in a ``.npz`` file, safely.

* **Atomic write.**  ``save`` writes to a temporary file in the target's directory, flushes it
  to disk, then renames it over the target (``os.replace``, atomic on POSIX and Windows).  A
  crash or an exception mid-way leaves the previous file untouched and no temporary behind.
* **No pickle.**  ``load`` opens the file with ``allow_pickle=False``: an object array (which
  could run code when unpickled) is refused with a clear error, never executed.
* **Checked.**  Names and shapes must match the module's parameters exactly, and every array
  must be floating-point; nothing is assigned unless everything fits.

The archive holds one array per parameter under its dotted name (``"0.weight"``), readable by
``numpy.load`` anywhere.

>>> import os, tempfile, numpy as np, autodiff as ad
>>> model = ad.nn.Sequential(ad.nn.Linear(2, 3, rng=0), ad.nn.ReLU(), ad.nn.Linear(3, 1, rng=1))
>>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
>>> ad.nn.save(model, path)
>>> copy = ad.nn.Sequential(ad.nn.Linear(2, 3, rng=5), ad.nn.ReLU(), ad.nn.Linear(3, 1, rng=6))
>>> _ = ad.nn.load(copy, path)
>>> bool(np.array_equal(copy[0].weight.value, model[0].weight.value))
True
"""

from __future__ import annotations

import os
import secrets
import zipfile

import numpy as np

from .module import Module

__all__ = ["save", "load"]

_O_BINARY = getattr(os, "O_BINARY", 0)  # Windows: no newline translation


def _write_arrays(file, arrays: dict) -> None:
    """Write ``arrays`` as an uncompressed ``.npz`` archive into the open binary ``file``."""
    np.savez(file, **arrays)


def save(module, path) -> None:
    """Write ``module.state_dict()`` to ``path`` (a ``.npz`` archive), atomically.

    The file is written exactly at ``path`` (no suffix is added).  If anything fails, the
    previous content of ``path`` (if any) is left as it was.
    """
    if not isinstance(module, Module):
        raise TypeError(f"save needs an ad.nn.Module, got {type(module).__name__}")
    path = os.fspath(path)
    state = module.state_dict()
    directory = os.path.dirname(os.path.abspath(path))
    temporary = os.path.join(
        directory, f".{os.path.basename(path)}.{os.getpid()}.{secrets.token_hex(6)}.tmp"
    )
    # O_EXCL: never clobber another file; mode 0o666 minus the umask, like a plain open()
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o666)
    try:
        with os.fdopen(descriptor, "wb") as file:
            _write_arrays(file, state)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def _read_arrays(path) -> dict:
    """The arrays of the ``.npz`` file at ``path``, refusing pickled (object) entries."""
    unreadable = (zipfile.BadZipFile, OSError, EOFError, ValueError)
    try:
        archive = np.load(path, allow_pickle=False)
    except unreadable as error:
        raise ValueError(f"{path!r} is not a readable .npz archive of arrays: {error}") from error
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(
            f"{path!r} holds a single array, not a .npz archive of named parameters"
        )
    arrays = {}
    with archive:
        for name in archive.files:
            try:
                arrays[name] = archive[name]
            except unreadable as error:
                if "allow_pickle" in str(error):
                    raise ValueError(
                        f"entry {name!r} of {path!r} is an object array (pickled Python "
                        "objects); it is refused because unpickling can run arbitrary code. "
                        "Parameter files hold floating-point arrays only."
                    ) from None
                raise ValueError(
                    f"entry {name!r} of {path!r} cannot be read (a damaged file?): {error}"
                ) from error
    return arrays


def load(module, path):
    """Load parameters saved by :func:`save` into ``module`` (in place); returns ``module``.

    Raises ``KeyError`` naming missing or unexpected parameter names, ``ValueError`` for a
    shape mismatch, an object array or a file that is not a ``.npz`` archive, and
    ``TypeError`` for a non-floating array; the module is unchanged when anything is refused.
    """
    if not isinstance(module, Module):
        raise TypeError(f"load needs an ad.nn.Module, got {type(module).__name__}")
    path = os.fspath(path)
    arrays = _read_arrays(path)
    try:
        module.load_state_dict(arrays, strict=True)
    except (KeyError, ValueError, TypeError) as error:
        message = error.args[0] if error.args else str(error)
        raise type(error)(f"cannot load {path!r} into {type(module).__name__}: {message}") from None
    return module
