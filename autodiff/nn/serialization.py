"""``ad.nn.save`` / ``ad.nn.load``: a module's parameters in a ``.npz`` file, safely.

* **Atomic write.**  ``save`` writes to a temporary file in the target's directory, flushes it
  to disk, then renames it over the target (``os.replace``, atomic on POSIX and Windows).  An
  exception or a ``KeyboardInterrupt`` mid-way leaves the previous file untouched and removes
  the temporary.
* **Checked before read.**  ``load`` first reads only the archive's directory and each
  member's ``.npy`` header (magic string, dtype, shape: NumPy's format, ``numpy.lib.format``),
  which are a few hundred bytes at the start of each member.  The names must be exactly the
  module's (else ``KeyError``); every declared shape must equal the module's and every dtype
  must be of the same kind (floating for parameters; floating or integer, as the module holds,
  for buffers), else ``ValueError``.  Only then is any data decompressed, so a small file that
  declares a huge array, or hides gigabytes of compressed zeros under another name, is refused
  at once without allocating.
* **No pickle.**  Object arrays (which could run code when unpickled) are refused from the
  header; data is read with ``allow_pickle=False``.  Nothing is assigned unless everything
  fits.

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

import contextlib
import os
import secrets
import zipfile
import zlib

import numpy as np

from .module import Module

__all__ = ["save", "load"]

def _write_arrays(file, arrays: dict) -> None:
    """Write ``arrays`` as an uncompressed ``.npz`` archive into the open binary ``file``."""
    np.savez(file, **arrays)


def save(module, path) -> None:
    """Write ``module.state_dict()`` to ``path`` (a ``.npz`` archive), atomically.

    The file is written exactly at ``path`` (no suffix is added).  If anything fails or the
    save is interrupted, the previous content of ``path`` (if any) is left as it was and the
    temporary file is removed.
    """
    if not isinstance(module, Module):
        raise TypeError(f"save needs an ad.nn.Module, got {type(module).__name__}")
    path = os.fspath(path)
    state = module.state_dict()
    directory = os.path.dirname(os.path.abspath(path))
    temporary = os.path.join(
        directory, f".{os.path.basename(path)}.{os.getpid()}.{secrets.token_hex(6)}.tmp"
    )
    try:
        with open(temporary, "xb") as file:  # "x": never clobber another file
            _write_arrays(file, state)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
        raise


# ----------------------------------------------------------------------------------------------
# Loading: names, then headers, then data
# ----------------------------------------------------------------------------------------------

_UNREADABLE = (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError)
_KINDS = {"f": "floating-point", "i": "integer", "u": "integer"}


def _not_a_checkpoint(path, reason):
    return ValueError(
        f"{path!r} is not an autodiff checkpoint (a .npz archive of named arrays written by "
        f"ad.nn.save): {reason}"
    )


def _open_archive(path) -> zipfile.ZipFile:
    """The zip archive at ``path``; anything else is refused as not a checkpoint."""
    try:
        with open(path, "rb") as file:
            magic = file.read(6)
    except OSError as error:
        raise ValueError(f"cannot read {path!r}: {error}") from error
    if magic == b"\x93NUMPY":
        raise _not_a_checkpoint(path, "it holds a single array (numpy.save), not named entries")
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise _not_a_checkpoint(path, f"it is not a zip archive ({error})") from None


def _entries(archive) -> dict:
    """``{entry name: zip member}``: NumPy's ``.npz`` naming, ``name.npy`` holds ``name``."""
    return {member.filename.removesuffix(".npy"): member for member in archive.infolist()}


def _check_names(entries, expected, describe) -> None:
    missing = [name for name in expected if name not in entries]
    unexpected = [name for name in entries if name not in expected]
    if missing or unexpected:
        parts = ([f"missing {missing}"] if missing else []) + (
            [f"unexpected {unexpected}"] if unexpected else [])
        raise KeyError(
            f"{describe}: {'; '.join(parts)}. The module's entries are {list(expected)}"
        )


def _declared(archive, member, name, path):
    """``(shape, dtype)`` from the ``.npy`` header at the start of ``member``; no data is read."""
    try:
        with archive.open(member) as stream:
            version = np.lib.format.read_magic(stream)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
            else:
                raise ValueError(f".npy format version {version} is not supported")
    except _UNREADABLE as error:
        raise ValueError(
            f"entry {name!r} of {path!r} is not a readable .npy array (a damaged file?): {error}"
        ) from None
    return shape, dtype


def _check_header(name, shape, dtype, expected, describe) -> None:
    """Refuse a declared ``(shape, dtype)`` that differs from the module's array ``expected``."""
    if dtype.hasobject:
        raise ValueError(
            f"{describe}: entry {name!r} is an object array (pickled Python objects); it is "
            "refused because unpickling can run arbitrary code. Checkpoints hold numeric arrays "
            "only."
        )
    wanted_kind = _KINDS.get(expected.dtype.kind, expected.dtype.name)
    if shape != expected.shape or _KINDS.get(dtype.kind) != wanted_kind:
        raise ValueError(
            f"{describe}: entry {name!r} declares shape {shape} and dtype {dtype}, but the module "
            f"expects shape {expected.shape} and a {wanted_kind} dtype ({expected.dtype})"
        )


def _read(archive, member, name, path) -> np.ndarray:
    try:
        with archive.open(member) as stream:
            return np.lib.format.read_array(stream, allow_pickle=False)
    except _UNREADABLE as error:
        raise ValueError(
            f"entry {name!r} of {path!r} cannot be read (a damaged file?): {error}"
        ) from None


def load(module, path):
    """Load parameters saved by :func:`save` into ``module`` (in place); returns ``module``.

    Decided from the archive's directory and the ``.npy`` headers before any data is read:
    ``KeyError`` names missing or unexpected entries; ``ValueError`` names an entry whose
    declared shape or dtype differs from the module's (giving both), an object array, a
    damaged entry, or a file that is not an autodiff checkpoint at all.  The module is
    unchanged when anything is refused.
    """
    if not isinstance(module, Module):
        raise TypeError(f"load needs an ad.nn.Module, got {type(module).__name__}")
    path = os.fspath(path)
    describe = f"cannot load {path!r} into {type(module).__name__}"
    expected = module.state_dict()
    with _open_archive(path) as archive:
        entries = _entries(archive)
        _check_names(entries, expected, describe)
        for name, member in entries.items():
            shape, dtype = _declared(archive, member, name, path)
            _check_header(name, shape, dtype, expected[name], describe)
        arrays = {name: _read(archive, member, name, path) for name, member in entries.items()}
    try:
        module.load_state_dict(arrays, strict=True)
    except (KeyError, ValueError, TypeError) as error:
        message = error.args[0] if error.args else str(error)
        raise type(error)(f"{describe}: {message}") from None
    return module
