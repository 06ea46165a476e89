"""Forward over reverse on plain dual cotangents (issue 13): the sweep's shortcuts give the
bits of the primitives' own rules.

``ad.hvp`` runs the reverse sweep of ``grad f`` on dual numbers.  The sweep adds dual
cotangents into buffers it owns in place, keeps indexing's cotangents sparse per part, takes
``d * ones`` as ``d``, writes the chain rule's product into a partial made for it (a
plain array or a dual's parts) and multiplies a dual by a constant partial part by part.  Each
result here is compared, to the last bit, with the same transform with those shortcuts
switched off (every step then goes through the primitives, as before them).
"""

import numpy as np
import pytest

import autodiff as ad
from autodiff.reverse import tape
from autodiff.rules import elementwise


def _rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def _scalar_loop(x):
    total = 0.0
    for i in range(len(x) - 1):
        total = total + 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return total


def _matrix_entries(x):
    m = np.reshape(x, (3, 4))
    return m[0, 1] * m[2, 3] + np.sin(m[1, 2]) * m[0, 1] + np.sum(m[1] ** 3)


def _slices_and_arrays(x):
    picked = x[np.array([0, 3, 3, 5])]
    return (np.sum(x[::2] * x[1::2]) + np.sum(np.exp(picked) * picked)
            + np.sum(x[x > 0] ** 2) + np.prod(x[2:5]) - np.sum(x[::-1][:4] ** 3))


def _repeated_reuse(x):
    y = np.tanh(x)
    return np.sum(y * y) + np.sum(x * y) + np.sum(np.log1p(x ** 2)) + np.sum(x)


def _scalar_broadcast(x):
    # a scalar base against a vector of exponents: sum's cotangent of ones meets a partial
    # of the output's shape whose input is a scalar (summed back to it)
    return np.sum((x[2] + 2.0) ** np.linspace(x[0], x[1], 7)) + np.sum(np.sin(x[3]) * x[:5])


_WEIGHTS = np.linspace(0.5, 1.5, 12)


def _constant_factors(x):
    # constant partials (floats, -1, a constant array) meeting dual cotangents: -g, c * g, w * g
    return np.sum(3.0 * np.sin(x) - np.cos(x) * _WEIGHTS.astype(x.dtype) + (x / 4.0) ** 2
                  + np.exp(-x) - 0.5 * x ** 3)


def _zero_d(x):
    # 0-d arrays: products of dual partials and cotangents that are NumPy scalars
    a, b, c = (np.reshape(x[i:i + 1], ()) for i in range(3))
    return np.sum(np.exp(a) * b * np.sin(c)) + np.sum(x ** 3)


PROGRAMS = {
    "zero-d": _zero_d,
    "constant-factors": _constant_factors,
    "scalar-broadcast": _scalar_broadcast,
    "rosenbrock": _rosenbrock,
    "scalar-loop": _scalar_loop,
    "matrix-entries": _matrix_entries,
    "slices-and-integer-arrays": _slices_and_arrays,
    "reuse": _repeated_reuse,
}


def _plain(monkeypatch):
    """Switch the shortcuts off: every step through the primitives' rules."""
    monkeypatch.setattr(tape, "_dual_sparse_vjp",
                        lambda prim, g, node, wanted: prim.vjp(g, node.primals, node.out,
                                                               wanted, **node.params))
    monkeypatch.setattr(tape, "_add_dual_slice", lambda cotangents, owned, key, g, node: None)
    monkeypatch.setattr(tape, "_add_duals", lambda current, value, owned: None)
    monkeypatch.setattr(elementwise, "_unit_cotangent", lambda cotangent: False)
    monkeypatch.setattr(elementwise, "_sole_array", lambda d, direction: False)
    monkeypatch.setattr(elementwise, "_into_dual", lambda d, g, overwrite_g=False: False)
    monkeypatch.setattr(elementwise, "_dual_product", lambda d, g: None)
    monkeypatch.setattr(tape, "overwritable", lambda g, ours: False)


def _transforms(f, x, v):
    return {
        "hvp": ad.hvp(f, x, v),
        "hessian": ad.hessian(f)(x),
        "grad": ad.grad(f)(x),
        "jacrev(grad)": ad.jacrev(ad.grad(f))(x),
        "jvp(grad)": ad.jvp(ad.grad(f), x, v),
    }


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_same_bits_as_the_primitives_rules(name, dtype, monkeypatch):
    f = PROGRAMS[name]
    rng = np.random.default_rng(3)
    x = rng.uniform(-0.9, 0.9, 12).astype(dtype)
    v = rng.standard_normal(12).astype(dtype)
    fast = _transforms(f, x, v)
    with monkeypatch.context() as patch:
        _plain(patch)
        plain = _transforms(f, x, v)
    for key in fast:
        for got, want in zip(ad.pytree.flatten(fast[key])[0], ad.pytree.flatten(plain[key])[0]):
            assert np.shape(got) == np.shape(want), key
            assert np.asarray(got).dtype == np.asarray(want).dtype, key
            np.testing.assert_array_equal(got, want, err_msg=key)


def test_sparse_dual_cotangents_are_added_in_place(monkeypatch):
    """Vectorised Rosenbrock reads x three times through slices: the first slice's dual
    cotangent becomes x's buffer, the other two are added into its parts in place
    (``_add_dual_slice``); integer arrays take the index-and-values pair (``_DualSparse``)
    the same way."""
    made, added = [], []
    add_dual_slice, add_to = tape._add_dual_slice, tape._DualSparse.add_to

    def slice_spy(cotangents, owned, key, g, node):
        done = add_dual_slice(cotangents, owned, key, g, node)
        made.append(done)
        return done

    def spy(self, buffer):
        done = add_to(self, buffer)
        added.append(done)
        return done

    monkeypatch.setattr(tape, "_add_dual_slice", slice_spy)
    monkeypatch.setattr(tape._DualSparse, "add_to", spy)
    x = np.linspace(-1.0, 1.0, 7)
    v = np.cos(np.arange(7.0))
    hv = ad.hvp(_rosenbrock, x, v)
    assert made == [True, False, False] and added == []
    from scipy.optimize import rosen_hess_prod

    np.testing.assert_allclose(hv, rosen_hess_prod(x, v), rtol=1e-13)
    i, j = np.array([1, 2, 3, 4, 5, 6]), np.array([0, 1, 2, 3, 4, 5])
    hv = ad.hvp(lambda x: np.sum(100.0 * (x[i] - x[j] ** 2) ** 2 + (1.0 - x[j]) ** 2), x, v)
    assert added == [True, True]
    np.testing.assert_allclose(hv, rosen_hess_prod(x, v), rtol=1e-13)


def test_results_are_arrays_of_their_own():
    """``d * 1`` taken as ``d`` never hands out an input: the product's tangent of
    ``sum(x * c)`` with ``c`` an outer dual, and ``hvp`` outputs, are new writable arrays."""
    x = np.array([0.5, -1.0, 2.0])
    v = np.array([1.0, 2.0, 3.0])
    hv = ad.hvp(lambda x: np.sum(x * x), x, v)
    assert hv.base is None and hv.flags.writeable and not np.shares_memory(hv, v)
    np.testing.assert_array_equal(hv, 2 * v)
    c, tc = np.array([3.0, 4.0, 5.0]), np.array([1.0, 1.0, 1.0])
    value, tangent = ad.jvp(lambda c: ad.grad(lambda x: np.sum(x * c))(x), c, tc)
    np.testing.assert_array_equal(value, c)
    np.testing.assert_array_equal(tangent, tc)
    g = ad.grad(lambda x: np.sum(x * c))(x)
    assert not np.shares_memory(g, c)


def test_a_partial_held_elsewhere_is_not_overwritten():
    """The chain rule writes into a partial only when nothing else holds it: ``exp``'s
    partial is its output, which the tape and the user's next operation still read."""
    x = np.array([0.1, 0.2, 0.3])
    g = ad.grad(lambda x: np.sum(np.exp(x) * 2.0 + np.exp(x) ** 2))(x)
    np.testing.assert_allclose(g, 2 * np.exp(x) + 2 * np.exp(2 * x), rtol=1e-14)


def _written_in_place(x):
    out = x * 0.0
    for i in range(1, len(x)):
        out[i] = out[i - 1] * 0.5 + np.sin(x[i]) * x[i - 1]
    out += x
    return np.sum(out ** 2)


@pytest.mark.parametrize("name", sorted(PROGRAMS) + ["written-in-place"])
def test_reference_counts_not_trusted_give_the_same_bits(name, monkeypatch):
    """Where ``sys.getrefcount`` may count fewer holders than there are (CPython 3.14's
    borrowed loads, free-threaded builds) every shortcut that asks it is off: results keep
    their bits (the shortcuts write in place only what nobody else reads)."""
    f = PROGRAMS.get(name, _written_in_place)
    rng = np.random.default_rng(5)
    x, v = rng.uniform(-0.9, 0.9, 12), rng.standard_normal(12)
    trusted = _transforms(f, x, v)
    monkeypatch.setattr(elementwise, "REFCOUNTS_EXACT", False)
    untrusted = _transforms(f, x, v)
    for key in trusted:
        for got, want in zip(ad.pytree.flatten(untrusted[key])[0],
                             ad.pytree.flatten(trusted[key])[0]):
            np.testing.assert_array_equal(got, want, err_msg=key)


# ----------------------------------------------------------------------------------------------
# the forward pass on large arrays: a temporary operand's dual takes the result
# ----------------------------------------------------------------------------------------------

LARGE = 40_000  # float64 elements: 320 kB, above elementwise.LARGE_BYTES


def _named_and_shared(x):
    y = x[1:] * 2.0 - x[:-1] ** 2  # named: its dual must survive the uses below
    z = y * 3.0 + 1.0
    u = (y + 1.0) - y  # (y + 1.0) shares y's tangent: never written into
    w = (np.sin(x[1:]) * 0.5) * y  # a product of two Vars keeps both operands
    return np.sum(z) + np.sum(u * u) + np.sum(w) + np.sum(y ** 2) + np.sum((1.0 - z) * 2.0)


LARGE_PROGRAMS = {"rosenbrock": _rosenbrock, "named-and-shared": _named_and_shared,
                  "reuse": _repeated_reuse}


def _large_transforms(f, x, v):
    return {"hvp": ad.hvp(f, x, v), "jvp(grad)": ad.jvp(ad.grad(f), x, v),
            "grad": ad.grad(f)(x)}


def _assert_same_bits(got, want):
    for key in want:
        for a, b in zip(ad.pytree.flatten(got[key])[0], ad.pytree.flatten(want[key])[0]):
            assert np.asarray(a).dtype == np.asarray(b).dtype, key
            np.testing.assert_array_equal(a, b, err_msg=key)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(LARGE_PROGRAMS))
def test_temporaries_taking_the_result_give_the_same_bits(name, dtype, monkeypatch):
    """``a + b``, ``a - b`` and ``c * a`` on a temporary ``Var`` whose large dual nothing
    else holds write into that dual's parts (elementwise.into_operand): the same bits as
    with the shortcut off, and the operands a name, a shared tangent or a node still holds
    are never written into (those results would differ)."""
    f = LARGE_PROGRAMS[name]
    rng = np.random.default_rng(7)
    n = LARGE * 2 if dtype is np.float32 else LARGE
    x, v = rng.uniform(-0.9, 0.9, n).astype(dtype), rng.standard_normal(n).astype(dtype)
    taken = []
    original = elementwise.into_operand

    def spy(prim, primals, i):
        out = original(prim, primals, i)
        taken.append((prim.name, out is not None))
        return out

    monkeypatch.setattr(elementwise, "into_operand", spy)
    fast = _large_transforms(f, x, v)
    with monkeypatch.context() as patch:
        patch.setattr(elementwise, "into_operand", lambda prim, primals, i: None)
        plain = _large_transforms(f, x, v)
    _assert_same_bits(fast, plain)
    with monkeypatch.context() as patch:
        patch.setattr(elementwise, "REFCOUNTS_EXACT", False)
        _assert_same_bits(_large_transforms(f, x, v), plain)
    if name == "rosenbrock":  # x[1:] - x[:-1]**2, 100 * (...)**2, and the sum: per hvp / jvp
        assert taken == [("subtract", True), ("multiply", True), ("add", True)] * 2
    if name == "named-and-shared":
        assert ("add", False) in taken or ("subtract", False) in taken


def test_a_named_operand_is_not_written_into():
    """The result of ``y + 1.0`` with ``y`` a name goes to new arrays: ``y`` is read again
    afterwards, and its value is what the sum below sees."""
    n = LARGE
    x, v = np.linspace(-1.0, 1.0, n), np.ones(n)

    def f(x):
        y = x * 2.0 + 0.0
        z = y + 1.0
        return np.sum(z * 0.0) + np.sum(y ** 2)

    np.testing.assert_allclose(ad.hvp(f, x, v), 8.0 * v, rtol=1e-15)
    value, tangent = ad.jvp(ad.grad(f), x, v)
    np.testing.assert_allclose(value, 8.0 * x, rtol=1e-15)
