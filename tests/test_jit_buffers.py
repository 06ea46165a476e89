"""Compiled replay's reused buffers (``out=``): same bits as eager, never returned, never
overwritten while read, one pool per trace used by one call at a time."""

import re
import threading

import numpy as np
import pytest

import autodiff as ad
from autodiff.jit import compiled as compiled_module
from test_jit import assert_identical

RNG = np.random.default_rng(5)


def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def transcendental(x):
    """Ufuncs whose SIMD and scalar loops may round differently (exp, log1p, tanh, sin)."""
    y = np.exp(-(x**2)) * np.sin(3.0 * x) + np.log1p(x**2) * np.tanh(x) + np.sqrt(1.0 + x**2)
    return np.sum(y**3 - np.arctan(y) / (2.0 + np.cos(x)))


def _trace(jitted):
    return jitted._last


def test_buffers_are_used_and_replays_are_bit_identical():
    for f in (rosenbrock, transcendental):
        gradient = ad.jit(ad.value_and_grad(f))
        product = ad.jit(lambda x, v, f=f: ad.hvp(f, x, v))
        x, v = RNG.standard_normal(500), RNG.standard_normal(500)
        gradient(x)
        product(x, v)
        for jitted in (gradient, product):
            source = jitted.source()
            assert ", pool0)" in source and "pool0=None" in source.splitlines()[0]
        results = []
        for scale in (0.5, 1.0, 1.5, -2.0):  # new values, the pools reused
            got = (gradient(scale * x), product(scale * x, v))
            assert_identical(got, (ad.value_and_grad(f)(scale * x), ad.hvp(f, scale * x, v)))
            results.append(got)
        assert gradient.stats["records"] == 1 and product.stats["records"] == 1
        pools = _trace(gradient)._pool + _trace(product)._pool
        arrays = [r[0][1] for r in results] + [r[1] for r in results]
        for i, array in enumerate(arrays):  # every returned array is its own memory
            assert not any(np.shares_memory(array, other) for other in arrays[:i] + pools)


def test_a_buffer_in_place_is_the_operand_it_replaces():
    compiled = ad.jit(ad.grad(rosenbrock))
    compiled(np.ones(10))
    lines = [line.strip() for line in compiled.source().splitlines()]
    # a value read for the last time by a ufunc gives that ufunc its buffer (x - y into x's)
    # a buffered ufunc's line ends with its output, ", pool<k>)"
    buffered = [line for line in lines if " = " in line and re.search(r", pool\d+\)$", line)]
    reused = [line for line in buffered if line.split(" = ")[1].count("pool") == 1 and any(
        line.split(", pool")[-1] == other.split(", pool")[-1]
        for other in buffered[:buffered.index(line)])]
    assert reused


def test_returned_values_and_their_views_are_never_buffers():
    def f(x):
        y = np.exp(x) * 2.0  # returned through a view
        z = np.sin(x) + 1.0  # returned through a reshape
        w = np.cos(x) * x  # an intermediate only
        return y[1:], z.reshape(2, -1), np.sum(w)

    compiled = ad.jit(f)
    x = RNG.standard_normal(6)
    first = compiled(x)
    kept = [np.copy(a) for a in first[:2]]
    second = compiled(x + 1.0)
    assert_identical(first[:2], tuple(kept))  # the second call did not write into the first's
    assert_identical(second, f(x + 1.0))
    for array in first[:2] + second[:2]:
        assert not any(np.shares_memory(array, buffer) for buffer in _trace(compiled)._pool)


def test_a_buffer_is_not_overwritten_while_a_view_of_it_is_read():
    def f(x):
        y = np.exp(x)  # y is read only through the view z after this line
        z = y[1:]
        w = np.sin(x) * 3.0  # same shape as y: a naive reuse would write over z
        return np.sum(z * w[:-1])

    compiled = ad.jit(f)
    for scale in (1.0, 2.0):
        assert_identical(compiled(scale * np.linspace(0.1, 1.0, 50)),
                         f(scale * np.linspace(0.1, 1.0, 50)))
    source = compiled.source()
    exp_line = next(line for line in source.splitlines() if "= exp(" in line)
    sin_line = next(line for line in source.splitlines() if "= sin(" in line)
    assert exp_line.split(", pool")[1] != sin_line.split(", pool")[1]


def test_float32_bool_and_integer_results():
    def f(x, k):
        mask = np.isfinite(x) & (x > 0.1)  # bool arrays
        counts = np.add(k, 3) * np.int64(2)  # int64 arrays
        return np.sum(np.where(mask, np.tanh(x) * 1.5, -x) ** 2) + np.sum(counts)

    compiled = ad.jit(f)
    for scale in (1.0, -1.0, 3.0):
        x = (scale * RNG.standard_normal(40)).astype(np.float32)
        k = RNG.integers(0, 10, 40)
        assert_identical(compiled(x, k), f(x, k))
    gradient = ad.jit(ad.grad(lambda x: np.sum(np.exp(x * 0.5) ** 2)))
    x32 = RNG.standard_normal(30).astype(np.float32)
    assert_identical(gradient(x32), ad.grad(lambda x: np.sum(np.exp(x * 0.5) ** 2))(x32))
    assert gradient(x32).dtype == np.float32


def test_non_contiguous_inputs_replay_with_new_arrays():
    b = RNG.standard_normal((6, 5))

    def f(a):  # a product and a reduction read intermediates whose layout follows a's
        return np.sum((np.exp(a) * 2.0) @ b, axis=0) + np.sum(np.tanh(a) ** 2)

    compiled = ad.jit(f)
    a = RNG.standard_normal((4, 6))
    assert_identical(compiled(a), f(a))
    for other in (np.asfortranarray(a * 1.5), RNG.standard_normal((8, 6))[::2]):
        assert not other.flags.c_contiguous
        assert_identical(compiled(other), f(other))
    assert compiled.stats["records"] == 1
    recorded_fortran = ad.jit(f)
    recorded_fortran(np.asfortranarray(a))
    assert _trace(recorded_fortran).buffers is None  # its layouts are not C order
    assert_identical(recorded_fortran(a * 2.0), f(a * 2.0))


def test_a_pool_too_large_is_not_kept(monkeypatch):
    monkeypatch.setattr(compiled_module, "MAX_POOL_BYTES", 0)
    compiled = ad.jit(ad.grad(transcendental))
    x = RNG.standard_normal(100)
    for scale in (1.0, 2.0):
        assert_identical(compiled(scale * x), ad.grad(transcendental)(scale * x))
    assert _trace(compiled)._pool is False and ", pool0)" in compiled.source()


def test_a_call_while_the_pool_is_in_use_gets_its_own_buffers():
    compiled = ad.jit(ad.grad(transcendental))
    x = RNG.standard_normal(100)
    compiled(x)  # recorded
    compiled(x)  # replayed: the pool is made
    trace = _trace(compiled)
    before = [np.copy(buffer) for buffer in trace._pool]
    with trace._pool_lock:  # as if another thread were replaying the trace
        assert_identical(compiled(2.0 * x), ad.grad(transcendental)(2.0 * x))
    for buffer, copy in zip(trace._pool, before):
        np.testing.assert_array_equal(buffer, copy)


def test_threads_calling_one_compiled_function():
    product = ad.jit(lambda x, v: ad.hvp(transcendental, x, v))
    n, calls = 3000, 25
    points = [(RNG.standard_normal(n), RNG.standard_normal(n)) for _ in range(calls)]
    expected = [ad.hvp(transcendental, x, v) for x, v in points]
    product(*points[0])
    failures = []

    def worker(offset):
        for i in range(calls):
            j = (i + offset) % calls
            got = product(*points[j])
            if not np.array_equal(got, expected[j]):
                failures.append(j)

    threads = [threading.Thread(target=worker, args=(k * 7,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    assert product.stats["records"] == 1


@pytest.mark.parametrize("exponent", [2, 3, 0.5, -1])
def test_powers_keep_their_implementation(exponent):
    f = ad.jit(ad.grad(lambda x: np.sum(np.abs(x) ** exponent * 2.0)))
    x = RNG.uniform(0.5, 2.0, 20)
    for scale in (1.0, 1.7):
        assert_identical(f(scale * x), ad.grad(lambda x: np.sum(np.abs(x) ** exponent * 2.0))(
            scale * x))
