"""ad.nn.save / ad.nn.load: exact round trips, atomic writes, no pickle, checked names/shapes."""

import doctest
import os

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
    (lambda s: s.update({"0.weight": np.zeros((3, 4))}), ValueError, r"'0.weight'.*shape \(3, 4\)"),
    (lambda s: s.pop("2.bias"), KeyError, r"missing \['2.bias'\]"),
    (lambda s: s.update(extra=np.zeros(1)), KeyError, r"unexpected \['extra'\]"),
    (lambda s: s.update({"0.bias": np.zeros(4, dtype=int)}), TypeError, "int64"),
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
    (b"not a zip file at all", "not a readable .npz"),
    (None, "single array"),
])
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
    with pytest.raises(ValueError, match="not a readable|cannot be read"):
        ad.nn.load(mlp(0), path)


@pytest.mark.parametrize("call", [lambda p: ad.nn.save({"w": np.ones(2)}, p),
                                  lambda p: ad.nn.load(np.ones(2), p)])
def test_save_and_load_need_a_module(tmp_path, call):
    with pytest.raises(TypeError, match="Module"):
        call(tmp_path / "x.npz")


def test_module_docstring_examples_run():
    result = doctest.testmod(serialization)
    assert result.failed == 0 and result.attempted > 0
