"""What the tape keeps of a recorded operation, and the sweep's writes into its own cotangents
(issue 13: ``ad.hvp`` at large ``n``).

An elementwise node keeps the values its VJP reads for the inputs that need a cotangent
(``Elementwise.reads``), and refers to its operands by their places in the sweep, so a forward
value no rule reads dies when the user's code drops it.  A dual cotangent that the sweep
alone holds is negated, or multiplied, in place by the rule of a node with one input to send
a cotangent to.  Neither changes a bit of any result (the rules read only what they declare;
the in-place calls are the primitives' own NumPy calls).
"""

import gc
import tracemalloc
import weakref

import numpy as np
import pytest

import autodiff as ad
from autodiff.forward.dual import Dual, JvpLevel
from autodiff.reverse import tape
from autodiff.rules import elementwise
from autodiff.rules.elementwise import ELEMENTWISE

DECLARED = sorted(name for name, prim in ELEMENTWISE.items() if prim.reads is not None)
N = elementwise.LARGE_BYTES // 8  # float64 arrays from which nodes keep only what is read


def _exponents():
    return [2, 3.0, 0.5, 1, -2.0, np.resize([2.0, 0.5, 3.0], N)]


def _calls(prim):
    """(inputs, which of them are traced) for ``prim`` at points inside every declared
    primitive's domain (0.5 .. 2: logarithms, roots, quotients and powers are defined)."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0.5, 2.0, N)
    y = rng.uniform(0.5, 2.0, N)
    if prim.arity == 1:
        return [((x,), (0,))]
    if prim.name == "power":
        return [((x, b), (0,)) for b in _exponents()] + [((x, y), (0, 1)), ((x, y), (1,))]
    return [((x, y), (0,)), ((x, y), (1,)), ((x, y), (0, 1)), ((x, 1.5), (0,)),
            ((2.5, y), (1,))]


@pytest.mark.parametrize("name", DECLARED)
def test_a_vjp_reads_only_what_its_primitive_declares(name):
    """The VJP of each wanted input, with every value the declaration leaves out replaced by
    nan: the same bits as with all values (fails if a partial reads an undeclared value)."""
    prim = ELEMENTWISE[name]
    for inputs, traced in _calls(prim):
        out = prim.impl(*inputs)
        g = np.linspace(-1.0, 2.0, N)
        parents = [object() if i in traced else None for i in range(len(inputs))]
        reads = prim.vjp_reads_of(list(inputs), parents)
        n = len(inputs)
        hidden = [v if i in reads else np.full(np.shape(v), np.nan) for i, v in
                  enumerate(inputs)]
        hidden_out = out if n in reads else np.full(out.shape, np.nan)
        wanted = list(traced)
        expected = prim.vjp(g, list(inputs), out, wanted)
        got = prim.vjp(g, hidden, hidden_out, wanted)
        for e, c in zip(expected, got):
            np.testing.assert_array_equal(np.asarray(c), np.asarray(e), strict=True)
        assert all(i in reads for i in range(n) if i not in traced)  # constants kept


def test_small_nodes_keep_everything():
    """No input of 256 kB: little to free (and scalar nodes keep their floats for the rule)."""
    multiply = ELEMENTWISE["multiply"]
    assert multiply.vjp_reads_of([1.5, 2.0], [object(), object()]) is None
    assert multiply.vjp_reads_of([np.ones(N - 1), 2.0], [object(), None]) is None
    assert multiply.vjp_reads_of([np.ones(N), 2.0], [object(), None]) == {1}


def test_a_forward_value_no_rule_reads_dies_before_the_sweep():
    refs = []

    def f(x):
        shifted = x - 1.0  # subtract's VJP reads nothing; the sum's input is read by nobody
        refs.append(weakref.ref(shifted._primal_))
        return np.sum(np.exp(shifted * 2.0))

    x = np.linspace(0.1, 0.3, N)
    _, pullback = ad.vjp(f, x)
    gc.collect()
    assert refs[0]() is None  # the tape held it (through the next node's parents) before
    np.testing.assert_array_equal(pullback(1.0), 2.0 * np.exp((x - 1.0) * 2.0))


def test_the_read_values_are_kept_and_a_second_backward_still_raises():
    refs = []

    def f(x):
        shifted = x - 1.0
        refs.append(weakref.ref(shifted._primal_))
        return np.sum(shifted ** 2)  # power reads its base

    x = np.linspace(0.5, 2.0, N)
    _, pullback = ad.vjp(f, x)
    gc.collect()
    assert refs[0]() is not None
    np.testing.assert_array_equal(pullback(1.0), 2.0 * (x - 1.0))
    w = ad.Var(x)
    y = np.sum((w - 1.0) ** 2)
    y.backward()
    np.testing.assert_array_equal(w.grad, 2.0 * (x - 1.0))
    with pytest.raises(RuntimeError, match="released tape"):
        y.backward()  # the output's node, released after the others, is released too


def test_inspection_keeps_every_operation_and_its_value():
    """The inspection tools print every recorded value: their tape keeps the ``Var`` s."""
    from autodiff.inspection.recording import record

    x = np.array([1.0, 2.0])
    recording = record(lambda x: np.sum((x - 1.0) * x), (x,))
    values = [var.value for var in recording.operations]
    np.testing.assert_array_equal(values[0], x - 1.0)
    assert len(values) == 3


def _rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def test_hvp_of_rosenbrock_holds_at_most_ten_arrays_at_once():
    """Peak of the arrays ``ad.hvp`` allocates (NumPy reports them to tracemalloc): the forward
    pass's dual values that only the user's expression reads die with it.  14 arrays of ``n``
    before (the tape held every forward value until the sweep), 10 now."""
    n = N + 1
    x = np.linspace(-1.0, 1.5, n)
    v = np.cos(np.arange(n))
    ad.hvp(_rosenbrock, x, v)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        ad.hvp(_rosenbrock, x, v)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert peak < 10.5 * x.nbytes, peak / x.nbytes


def _dual(n=4):
    level = JvpLevel()
    return Dual._make(np.arange(1.0, n + 1.0), np.ones(n), level, 0), level


def test_a_dual_the_sweep_alone_holds_is_overwritable():
    g, level = _dual()
    assert tape.overwritable(g, False)
    held = g.tangent
    assert not tape.overwritable(g, False)  # a part held elsewhere
    del held
    also = g
    assert not tape.overwritable(g, False)  # the dual held elsewhere
    del also
    g.tangent = g.tangent[::-1]  # a view
    assert not tape.overwritable(g, True)
    level.close()
    g2, level2 = _dual()
    level2.close()
    assert not tape.overwritable(g2, True)  # an inactive level


def test_hvp_writes_into_the_cotangents_it_holds_alone(monkeypatch):
    """The in-place negation and product run on Rosenbrock's sweep, and give the bits of the
    primitives' rules (the same product with the shortcut switched off)."""
    x = np.linspace(-1.0, 1.5, 50)
    v = np.sin(np.arange(50.0))
    calls = []
    real = elementwise._negate_in_place
    monkeypatch.setattr(elementwise, "_negate_in_place",
                        lambda g: calls.append(1) or real(g))
    fast = ad.hvp(_rosenbrock, x, v)
    assert calls  # -g of 1 - x[:-1], into g
    monkeypatch.setattr(tape, "overwritable", lambda g, ours: False)
    np.testing.assert_array_equal(fast, ad.hvp(_rosenbrock, x, v), strict=True)
