"""ad.nn.save / ad.nn.load: exact round trips, atomic writes, no pickle, checked names/shapes."""

import doctest
import os
import pickle
import sys
import time
import tracemalloc
import zipfile

import numpy as np
import pytest

import autodiff as ad
from autodiff.nn import serialization


def mlp(seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return ad.nn.Sequential(ad.nn.Linear(3, 4, rng=rng, dtype=dtype), ad.nn.ReLU(),
                            ad.nn.Maxout(4, 2, pieces=2, rng=rng, dtype=dtype))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_round_trip_is_bitwise_exact(tmp_path, dtype):
    path = tmp_path / "model.npz"
    source, target = mlp(0, dtype), mlp(1, dtype)
    ad.nn.save(source, path)
    assert ad.nn.load(target, path) is target
    for (name, a), (_, b) in zip(source.named_parameters(), target.named_parameters()):
        assert b.value.dtype == dtype
        np.testing.assert_array_equal(a.value, b.value, err_msg=name)
    x = np.ones((2, 3), dtype)
    np.testing.assert_array_equal(source(x).value, target(x).value)


def test_the_file_is_a_plain_npz_of_named_arrays(tmp_path):
    path = tmp_path / "weights.npz"
    ad.nn.save(mlp(0), str(path))
    with np.load(path, allow_pickle=False) as archive:
        assert sorted(archive.files) == ["0.bias", "0.weight", "2.bias", "2.weight"]
    assert sorted(os.listdir(tmp_path)) == ["weights.npz"]  # no temporary left behind


def test_save_replaces_an_existing_file(tmp_path):
    path = tmp_path / "model.npz"
    ad.nn.save(mlp(0), path)
    ad.nn.save(mlp(5), path)
    loaded = ad.nn.load(mlp(1), path)
    np.testing.assert_array_equal(loaded[0].weight.value, mlp(5)[0].weight.value)


def test_an_interrupted_save_leaves_the_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    ad.nn.save(mlp(0), path)
    before = path.read_bytes()

    def write_half_then_fail(file, arrays):
        file.write(b"PK\x03\x04 partial archive")
        raise OSError("disk full")

    monkeypatch.setattr(serialization, "_write_arrays", write_half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        ad.nn.save(mlp(5), path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]
    monkeypatch.undo()
    np.testing.assert_array_equal(ad.nn.load(mlp(1), path)[0].weight.value,
                                  mlp(0)[0].weight.value)


def test_an_interrupted_first_save_leaves_nothing(tmp_path, monkeypatch):
    def fail(file, arrays):
        raise KeyboardInterrupt

    monkeypatch.setattr(serialization, "_write_arrays", fail)
    with pytest.raises(KeyboardInterrupt):
        ad.nn.save(mlp(0), tmp_path / "model.npz")
    assert os.listdir(tmp_path) == []


def write_archive(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_object_arrays_are_refused_without_unpickling(tmp_path):
    state = mlp(0).state_dict()
    state["0.bias"] = np.array([{"payload": 1}, None, 3, "x"], dtype=object)
    path = write_archive(tmp_path / "evil.npz", **state)
    model = mlp(1)
    before = model.state_dict()
    with pytest.raises(ValueError, match="'0.bias'.*object array.*unpickling"):
        ad.nn.load(model, path)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


@pytest.mark.parametrize("edit, error, match", [
    (lambda s: s.update({"0.weight": np.zeros((3, 4))}), ValueError,
     r"'0.weight' declares shape \(3, 4\) and dtype float64, but the module expects shape \(4, 3\)"),
    (lambda s: s.pop("2.bias"), KeyError, r"missing \['2.bias'\]"),
    (lambda s: s.update(extra=np.zeros(1)), KeyError, r"unexpected \['extra'\]"),
    (lambda s: s.update({"0.bias": np.zeros(4, dtype=int)}), ValueError,
     r"'0.bias' declares shape \(4,\) and dtype int64, but .* floating-point dtype \(float64\)"),
    (lambda s: s.update({"0.bias": np.zeros(4, dtype=complex)}), ValueError, "complex128"),
])
def test_mismatched_files_are_refused_with_the_path_and_the_cause(tmp_path, edit, error, match):
    state = mlp(0).state_dict()
    edit(state)
    path = write_archive(tmp_path / "other.npz", **state)
    model = mlp(1)
    before = model.state_dict()
    with pytest.raises(error, match=match) as raised:
        ad.nn.load(model, path)
    assert "other.npz" in str(raised.value)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


@pytest.mark.parametrize("content, match", [
    (b"not a zip file at all", "not an autodiff checkpoint.*not a zip archive"),
    (pickle.dumps({"0.weight": [1.0]}), "not an autodiff checkpoint"),
    (None, "not an autodiff checkpoint.*single array"),
], ids=["text", "pickle", "npy"])
def test_files_that_are_not_archives_are_refused(tmp_path, content, match):
    path = tmp_path / "weights.npz"
    if content is None:
        with open(path, "wb") as file:
            np.save(file, np.zeros(3))
    else:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=match):
        ad.nn.load(mlp(0), path)


@pytest.mark.parametrize("damage", [
    lambda data: data[:60],  # cut short: no central directory
    lambda data: data[:200] + bytes(200) + data[400:],  # a member's bytes overwritten
])
def test_a_damaged_archive_is_refused(tmp_path, damage):
    path = tmp_path / "model.npz"
    ad.nn.save(mlp(0), path)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(ValueError, match="not an autodiff checkpoint|not a readable|cannot be read"):
        ad.nn.load(mlp(0), path)


def write_members(path, state, declared=(), compression=zipfile.ZIP_STORED):
    """``state`` as a ``.npz``, except that each ``(name, shape)`` in ``declared`` is written as a
    float64 ``.npy`` header declaring ``shape`` followed by 64 bytes (not the data it claims)."""
    declared = dict(declared)
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name in {**state, **declared}:
            with archive.open(name + ".npy", "w") as member:
                if name in declared:
                    header = {"descr": "<f8", "fortran_order": False, "shape": declared[name]}
                    np.lib.format.write_array_header_1_0(member, header)
                    member.write(bytes(64))
                else:
                    np.lib.format.write_array(member, state[name])
    return path


def seconds_and_peak_bytes(call):
    """Run ``call`` (which must raise); the time it took and the peak of traced allocations."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        call()
    finally:
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return seconds, peak


@pytest.mark.parametrize("shape", [(4, 3 * 10**7), (10**6, 10**6)],
                         ids=["960MB", "8TB"])
def test_a_huge_declared_shape_is_refused_from_the_header_without_allocating(tmp_path, shape):
    """Issue 10: a small file declaring a huge array gave a raw MemoryError or allocated it."""
    path = write_members(tmp_path / "huge.npz", mlp(0).state_dict(), {"0.weight": shape})
    expected = (rf"'0.weight' declares shape \({shape[0]}, {shape[1]}\) and dtype float64, but "
                r"the module expects shape \(4, 3\)")

    def load():
        with pytest.raises(ValueError, match=expected):
            ad.nn.load(mlp(1), path)

    seconds, peak = seconds_and_peak_bytes(load)
    assert seconds < 1.0 and peak < 2**20, (seconds, peak)


def test_an_unexpected_entry_is_refused_by_name_before_decompressing(tmp_path):
    """Issue 10: 128 MB of compressed zeros under a foreign name were read before a KeyError."""
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in mlp(0).state_dict().items():
            with archive.open(name + ".npy", "w") as member:
                np.lib.format.write_array(member, array)
        with archive.open("zeros.npy", "w", force_zip64=True) as member:
            header = {"descr": "<f8", "fortran_order": False, "shape": (2**24,)}
            np.lib.format.write_array_header_1_0(member, header)
            for _ in range(32):
                member.write(bytes(2**22))
    assert os.path.getsize(path) < 2**20

    def load():
        with pytest.raises(KeyError, match=r"unexpected \['zeros'\]"):
            ad.nn.load(mlp(1), path)

    seconds, peak = seconds_and_peak_bytes(load)
    assert seconds < 1.0 and peak < 2**20, (seconds, peak)


def test_a_compressed_checkpoint_loads(tmp_path):
    """``numpy.savez_compressed`` files are checkpoints too: headers are read from the stream."""
    path = tmp_path / "compressed.npz"
    np.savez_compressed(path, **mlp(0).state_dict())
    np.testing.assert_array_equal(ad.nn.load(mlp(1), path)[2].weight.value, mlp(0)[2].weight.value)


def test_a_save_interrupted_at_any_line_leaves_no_temporary(tmp_path):
    """Issue 10: a KeyboardInterrupt between creating the temporary and guarding it left it."""
    path = tmp_path / "model.npz"
    ad.nn.save(mlp(0), path)
    before = path.read_bytes()
    code = serialization.save.__code__
    lines = sorted({line for _, _, line in code.co_lines()
                    if line is not None and line > code.co_firstlineno})
    interrupted = 0
    for target in lines:
        def interrupt_at_target(frame, event, arg):
            if frame.f_code is not code:
                return None
            if event == "line" and frame.f_lineno == target:
                raise KeyboardInterrupt
            return interrupt_at_target

        sys.settrace(interrupt_at_target)
        try:
            ad.nn.save(mlp(5), path)
        except KeyboardInterrupt:
            interrupted += 1
        finally:
            sys.settrace(None)
        assert sorted(os.listdir(tmp_path)) == ["model.npz"], f"interrupted at line {target}"
        loaded = ad.nn.load(mlp(1), path)[0].weight.value
        assert path.read_bytes() == before or np.array_equal(loaded, mlp(5)[0].weight.value)
        ad.nn.save(mlp(0), path)
    assert interrupted >= 8


@pytest.mark.parametrize("call", [lambda p: ad.nn.save({"w": np.ones(2)}, p),
                                  lambda p: ad.nn.load(np.ones(2), p)])
def test_save_and_load_need_a_module(tmp_path, call):
    with pytest.raises(TypeError, match="Module"):
        call(tmp_path / "x.npz")


def test_module_docstring_examples_run():
    result = doctest.testmod(serialization)
    assert result.failed == 0 and result.attempted > 0
