"""Bad input raises a clear exception naming the cause: each case asserts the type and the
message, so no case can degrade into a silently wrong number."""

import math

import numpy as np
import pytest

import autodiff as ad


def hand_built(kind, value):
    return ad.Dual(value, np.ones_like(value)) if kind == "Dual" else ad.Var(value)


KINDS = ["Dual", "Var"]

# ----------------------------------------------------------------------------------------------
# backward
# ----------------------------------------------------------------------------------------------


def test_backward_of_a_non_scalar_needs_a_gradient():
    y = ad.Var(np.ones(3)) * 2.0
    with pytest.raises(RuntimeError, match=r"backward\(\) of a non-scalar Var \(shape \(3,\)\) "
                                           r"needs `gradient`, the cotangent of the output"):
        y.backward()


def test_backward_gradient_of_the_wrong_shape():
    y = ad.Var(np.ones(3)) * 2.0
    with pytest.raises(ValueError, match=r"gradient has shape \(2,\) but the Var has shape "
                                         r"\(3,\)"):
        y.backward(np.ones(2))


def test_backward_through_a_released_tape():
    x = ad.Var(np.ones(2))
    y = np.sum(x * x)
    y.backward()
    with pytest.raises(RuntimeError, match="backward through a released tape: the '[a-z]+' "
                                           "node was already used by an earlier backward"):
        y.backward()


def test_backward_through_a_released_tape_from_a_later_output():
    """A new output built on released nodes also refuses to sweep through them."""
    x = ad.Var(2.0)
    hidden = np.sin(x) * x
    hidden.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        (hidden * 3.0).backward()


# ----------------------------------------------------------------------------------------------
# conversions that would drop the derivative
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "convert, what",
    [
        (float, r"float\(\)"),
        (int, r"int\(\)"),
        (complex, r"complex\(\)"),
        (math.sin, r"float\(\)"),
        (lambda x: [1, 2, 3][x], "using as an index"),
    ],
    ids=["float", "int", "complex", "math.sin", "index"],
)
def test_conversions_of_traced_values_raise(kind, convert, what):
    value = hand_built(kind, 1.0)
    with pytest.raises(TypeError, match=f"{what} of a traced {kind} would silently drop its "
                                        "derivative.*ad.stop_gradient"):
        convert(value)


@pytest.mark.parametrize("transform", [ad.grad, lambda f: (lambda x: ad.jvp(f, x, 1.0))])
def test_float_inside_a_transform_raises(transform):
    with pytest.raises(TypeError, match=r"float\(\) of a traced (Dual|Var) would silently drop"):
        transform(lambda x: float(x) * 2.0)(1.0)


def test_float_of_a_finished_tape_value_names_item():
    """Before: the message said "Inside a transform" for a loss built by hand outside any."""
    loss = np.sum(ad.Var(np.array([1.0, 2.0])) ** 2)
    with pytest.raises(TypeError, match=r"float\(\) of a traced Var would silently drop its "
                                        r"derivative.*x\.item\(\) for a number") as raised:
        float(loss)
    assert "Inside a transform" not in str(raised.value)


@pytest.mark.parametrize("primal", [np.array([1.0, 2.0]), 1.5], ids=["array", "float"])
def test_finished_tape_values_convert_as_in_pytorch(primal):
    x = ad.Var(primal)
    loss = np.sum(x * x)
    expected = float(np.sum(np.asarray(primal) ** 2))
    assert type(loss.item()) is float and loss.item() == expected
    assert f"{loss:.3f}" == f"{expected:.3f}"
    assert f"{loss}" == str(loss)
    assert loss.tolist() == expected
    assert isinstance(loss.numpy(), np.ndarray) and loss.numpy() == expected
    assert loss.detach() == expected and not isinstance(loss.detach(), ad.Var)
    assert x.tolist() == np.asarray(primal).tolist()
    np.testing.assert_array_equal(x.numpy(), primal)


def test_item_of_a_finished_array_needs_one_element():
    with pytest.raises(ValueError, match="size 1"):
        ad.Var(np.ones(3)).item()


CONVERSIONS = [
    (lambda x: x.item(), r"\.item\(\)"),
    (lambda x: x.tolist(), r"\.tolist\(\)"),
    (lambda x: x.numpy(), r"\.numpy\(\)"),
    (lambda x: x.detach(), r"\.detach\(\)"),
    (lambda x: f"{x:.3f}", "formatting with '.3f'"),
]


@pytest.mark.parametrize("transform", [ad.grad, lambda f: (lambda x: ad.jvp(f, x, 1.0))],
                         ids=["grad", "jvp"])
@pytest.mark.parametrize("convert, what", CONVERSIONS,
                         ids=["item", "tolist", "numpy", "detach", "format"])
def test_conversions_inside_a_transform_raise(transform, convert, what):
    def f(x):
        convert(x * 2.0)
        return x

    with pytest.raises(TypeError, match=f"{what} of a (Var|Dual) inside a transform would drop "
                                        "its derivative.*ad.stop_gradient"):
        transform(f)(1.0)


def test_conversion_of_an_escaped_value_names_the_escape():
    leaked = []
    ad.grad(lambda x: leaked.append(x * 2.0) or x)(1.0)
    with pytest.raises(ad.EscapedTracerError, match="used after the transform that created it"):
        leaked[0].item()


# ----------------------------------------------------------------------------------------------
# functions without a rule
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "call, name",
    [
        (np.fft.fft, "fft"),
        (lambda x: np.nextafter(x, 1.0), "nextafter"),
        (np.spacing, "spacing"),
        (np.modf, "modf"),
        (lambda x: np.add.reduceat(x, [0]), "add.reduceat"),
    ],
    ids=["fft", "nextafter", "spacing", "modf", "ufunc method"],
)
def test_float_valued_function_without_rule_names_it(kind, call, name):
    with pytest.raises(TypeError, match=f"autodiff has no derivative rule for NumPy's '{name}'"
                                        ".*autodiff.custom.primitive"):
        call(hand_built(kind, np.array([0.5, 2.0])))


def test_remainder_is_not_a_silent_constant():
    """d/dx (x mod c) = 1: returning a constant would give a zero gradient without warning."""
    gradient = ad.grad(lambda x: np.sum(np.remainder(x, 2.0)))(np.array([0.5, 2.5]))
    np.testing.assert_array_equal(gradient, [1.0, 1.0])


# ----------------------------------------------------------------------------------------------
# complex and integer inputs
# ----------------------------------------------------------------------------------------------

TRANSFORMS = {
    "jvp": lambda f, x: ad.jvp(f, x, x),
    "vjp": lambda f, x: ad.vjp(f, x),
    "grad": lambda f, x: ad.grad(f)(x),
    "value_and_grad": lambda f, x: ad.value_and_grad(f)(x),
    "jacfwd": lambda f, x: ad.jacfwd(f)(x),
    "jacrev": lambda f, x: ad.jacrev(f)(x),
    "hvp": lambda f, x: ad.hvp(f, x, x),
    "hessian": lambda f, x: ad.hessian(f)(x),
    "derivative": lambda f, x: ad.derivative(f, x),
    "check_grad": lambda f, x: ad.check_grad(f, x),
}

BAD_INPUTS = {
    "int": (3, "has dtype int64; differentiation needs floating-point inputs"),
    "int array": (np.arange(3), "has dtype int64; differentiation needs floating-point inputs"),
    "bool": (True, "needs floating-point inputs|is a bool"),
    "complex": (1.0 + 2.0j, r"is complex \(complex128\); complex numbers are not supported"),
    "complex array": (np.ones(2, complex), r"is complex \(complex128\); complex numbers are "
                                           "not supported"),
}


@pytest.mark.parametrize("transform", sorted(TRANSFORMS))
@pytest.mark.parametrize("bad", sorted(BAD_INPUTS))
def test_complex_and_integer_inputs_to_every_transform(transform, bad):
    value, message = BAD_INPUTS[bad]
    if transform == "derivative" and np.ndim(value):
        value = value[0]
    with pytest.raises(TypeError, match=message):
        TRANSFORMS[transform](lambda x: np.sum(x * x), value)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: ad.grad(lambda p: p["a"] * p["b"])({"a": 1.0, "b": 2}), "has dtype int64"),
        (lambda: ad.jvp(np.sin, 1.0, 1j), r"tangent is complex \(complex128\)"),
        (lambda: ad.vjp(np.sin, 1.0)[1](1j), r"cotangent is complex \(complex128\)"),
        (lambda: ad.Dual(np.arange(2)), "Dual primal has dtype int64"),
        (lambda: ad.Dual(1.0, 1j), "Dual tangent is complex"),
        (lambda: ad.Var(1j), "Var value is complex"),
        (lambda: ad.Var(np.arange(3)), "Var value has dtype int64"),
        (lambda: ad.grad(lambda x: x * 1j)(1.0), "a complex operand meets a traced value"),
    ],
    ids=["int leaf in a pytree", "complex tangent", "complex cotangent", "int Dual",
         "complex Dual tangent", "complex Var", "int Var", "complex output"],
)
def test_complex_and_integer_values_elsewhere(call, message):
    with pytest.raises(TypeError, match=message):
        call()


# ----------------------------------------------------------------------------------------------
# tangent shapes
# ----------------------------------------------------------------------------------------------


def test_ambiguous_tangent_shape_asks_for_batched():
    with pytest.raises(ValueError, match=r"tangent shape \(2, 3\) does not match primal shape "
                                         r"\(3,\); it fits as k directions: pass batched=True"):
        ad.Dual(np.ones(3), np.ones((2, 3)))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: ad.Dual(np.ones(3), np.ones(4)),
         r"tangent shape \(4,\) does not match primal shape \(3,\)$"),
        (lambda: ad.Dual(np.ones(3), np.ones((2, 4)), batched=True),
         r"batched tangents must have shape \(k,\) \+ primal.shape = \(k,\) \+ \(3,\), got "
         r"\(2, 4\)"),
        (lambda: ad.Dual(np.ones(3), batched=True), r"needs the tangents \(k,\) \+ shape"),
        (lambda: ad.jvp(np.sin, np.ones(3), np.ones(4)),
         r"tangent has shape \(4,\), expected \(3,\)"),
        (lambda: ad.jvp(lambda a, b: a * b, (1.0, 2.0), (1.0,)),
         "tangent structure .* differs from primal"),
        (lambda: ad.vjp(np.sin, np.ones(3))[1](np.ones(4)),
         r"cotangent has shape \(4,\), expected \(3,\)"),
        (lambda: ad.Dual(np.ones(3), np.ones((2, 3)), batched=True) + ad.Dual(np.ones(3)),
         "add: cannot combine a batched Dual with an unbatched one"),
    ],
    ids=["Dual", "batched Dual", "batched without tangents", "jvp", "jvp structure",
         "vjp pullback", "batched plus unbatched"],
)
def test_tangent_shape_mismatch(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ----------------------------------------------------------------------------------------------
# in-place writes
# ----------------------------------------------------------------------------------------------


def test_item_assignment_into_a_tape_leaf_names_the_copy():
    """NumPy would change the caller's array; a leaf cannot be rewritten, its copy can."""
    value = ad.Var(np.ones(3))
    with pytest.raises(TypeError, match=r"x = x.copy\(\); x\[i\] = v"):
        value[0] = 2.0
    with pytest.raises(TypeError, match=r"x = x.copy\(\)"):
        ad.grad(lambda x: _write_first(x))(np.ones(3))
    copied = value.copy()
    copied[0] = 2.0
    np.testing.assert_array_equal(copied.value, [2.0, 1.0, 1.0])


def _write_first(x):
    x[0] = 2.0
    return np.sum(x)


@pytest.mark.parametrize("kind", KINDS)
def test_traced_value_written_into_a_plain_array_names_the_spelling_that_works(kind):
    """NumPy converts with float() (a ValueError it raises from our TypeError)."""
    out = np.zeros(3)
    with pytest.raises(ValueError) as info:
        out[0] = hand_built(kind, 1.0)
    assert isinstance(info.value.__cause__, TypeError)
    assert "np.zeros_like(x)" in str(info.value.__cause__)
    assert "np.array([...]) without dtype" in str(info.value.__cause__)


@pytest.mark.parametrize("kind", KINDS)
def test_ufunc_out_argument(kind):
    value = hand_built(kind, np.ones(2))
    with pytest.raises(TypeError, match=r"np.add\(..., out=...\) is not supported on traced "
                                        "values: it would write into an array in place"):
        np.add(value, 1.0, out=np.zeros(2))


def test_arrays_saved_by_the_tape_are_read_only():
    x = ad.Var(np.ones(3))
    y = np.exp(x)
    with pytest.raises(ValueError, match="read-only"):
        y.value[0] = 3.0
    with pytest.raises(ValueError, match="read-only"):
        x.value[0] = 3.0


def test_debug_mode_names_the_primitive_whose_input_changed():
    weights = np.ones(3)
    alias = weights[:]  # a writeable view made before its base was marked read-only
    weights.flags.writeable = False  # so the tape keeps ``weights`` itself, not a copy
    with ad.debug():
        x = ad.Var(np.array([1.0, 2.0, 3.0]))
        y = np.sum(np.sin(x) * weights)
        alias[0] = 5.0  # through an alias the tape cannot see
        with pytest.raises(RuntimeError, match=r"input 1 of 'multiply' \(shape \(3,\), dtype "
                                               r"float64\) was modified in place after it was "
                                               "recorded on the tape"):
            y.backward()


# ----------------------------------------------------------------------------------------------
# transform arguments
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("transform", [ad.grad, ad.value_and_grad])
def test_grad_of_a_non_scalar_output(transform):
    with pytest.raises(TypeError, match=r"grad needs a scalar output, got shape \(2,\); use "
                                        "jacrev or vjp"):
        transform(np.sin)(np.ones(2))


@pytest.mark.parametrize("transform", [ad.grad, ad.value_and_grad])
@pytest.mark.parametrize(
    "f", [lambda x: x * 2.0, lambda x: (x, 1.0, 2.0), lambda x: [x, 1.0]],
    ids=["scalar", "triple", "list"],
)
def test_has_aux_needs_a_pair(transform, f):
    with pytest.raises(TypeError, match=r"has_aux=True needs the function to return a pair "
                                        r"\(value, aux\)"):
        transform(f, has_aux=True)(1.0)


def test_a_pair_without_has_aux_is_not_a_scalar():
    with pytest.raises(TypeError, match="grad needs a scalar output"):
        ad.grad(lambda x: (x * 2.0, {"aux": 1.0}))(1.0)


@pytest.mark.parametrize(
    "transform",
    [ad.grad, ad.value_and_grad, ad.jacfwd, ad.jacrev, ad.hessian],
    ids=["grad", "value_and_grad", "jacfwd", "jacrev", "hessian"],
)
@pytest.mark.parametrize("argnums", [2, -3, (0, 5)])
def test_argnums_out_of_range(transform, argnums):
    with pytest.raises(ValueError, match=f"argnums {argnums!r} out of range for 2 arguments"
                       .replace("(", r"\(").replace(")", r"\)")):
        transform(lambda x, y: x * y, argnums=argnums)(1.0, 2.0)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: ad.derivative(np.sin, 1.0, order=-1), "order must be a non-negative integer"),
        (lambda: ad.derivative(np.sin, 1.5, order=1.5), "order must be a non-negative integer"),
        (lambda: ad.derivative(np.sin, np.ones(2)), r"derivative needs a scalar input, got shape"),
        (lambda: ad.jacfwd(np.sin, chunk_size=0)(np.ones(2)), "chunk_size must be a positive"),
        (lambda: ad.jacrev(np.sin, chunk_size=-1)(np.ones(2)), "chunk_size must be a positive"),
    ],
    ids=["negative order", "fractional order", "vector derivative", "jacfwd chunk", "jacrev chunk"],
)
def test_invalid_transform_parameters(call, message):
    with pytest.raises(ValueError, match=message):
        call()
