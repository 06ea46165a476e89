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
