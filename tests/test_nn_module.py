"""ad.nn.Module, Parameter, Sequential and functional_call."""

import copy
import doctest
import pickle
import threading

import numpy as np
import pytest

import autodiff as ad
from autodiff.nn import functional as F
from autodiff.nn import module as module_module
from autodiff.rules.primitive import Traced
from autodiff.testing import check_hvp

RNG = np.random.default_rng(7)


def mlp(seed=0, activation=ad.nn.Tanh):
    rng = np.random.default_rng(seed)
    return ad.nn.Sequential(ad.nn.Linear(4, 5, rng=rng), activation(), ad.nn.Linear(5, 3, rng=rng))


def holds_no_traced_value(model):
    """Every attribute of every module is untraced; parameters hold plain read-only arrays."""
    for module in model.modules():
        for value in vars(module).values():
            items = value if isinstance(value, (list, tuple)) else [value]
            if any(isinstance(item, Traced) for item in items):
                return False
        for parameter in module._parameters.values():
            if type(parameter) is not ad.nn.Parameter or isinstance(parameter.value, Traced):
                return False
            if not isinstance(parameter.value, np.ndarray) or parameter.value.flags.writeable:
                return False
            if parameter.grad is not None and not isinstance(parameter.grad, np.ndarray):
                return False
    return True


# ----------------------------------------------------------------------------------------------
# Parameter
# ----------------------------------------------------------------------------------------------


def test_parameter_is_a_persistent_leaf_var():
    w = ad.nn.Parameter(np.array([1.0, 2.0]))
    assert isinstance(w, ad.Var) and w.is_leaf
    for _ in range(2):  # two tapes, one parameter: gradients accumulate across backward calls
        (np.sum(w * w) * 1.5).backward()
    np.testing.assert_array_equal(w.grad, 2 * 3.0 * np.array([1.0, 2.0]))
    assert isinstance(w.grad, np.ndarray)


@pytest.mark.parametrize("expression", [
    lambda w: 2.0 * w, lambda w: w * 2.0, lambda w: w + 1.0, lambda w: 1.0 - w, lambda w: w / 2.0,
    lambda w: -w, lambda w: w ** 2, lambda w: np.exp(w), lambda w: w @ np.ones(2),
    lambda w: w.T, lambda w: w[0],
])
def test_parameter_works_in_every_expression(expression):
    w = ad.nn.Parameter(np.array([0.5, -1.0]))
    out = expression(w)
    np.sum(out).backward()
    expected = ad.grad(lambda x: np.sum(expression(x)))(np.array([0.5, -1.0]))
    np.testing.assert_allclose(w.grad, expected)


def test_parameter_shape_dtype_and_conversions():
    w = ad.nn.Parameter([[1, 2, 3]])
    assert w.shape == (1, 3) and w.dtype == np.float64 and w.ndim == 2 and len(w) == 1
    assert w.T.shape == (3, 1)
    assert ad.nn.Parameter(np.ones(2, np.float32)).dtype == np.float32
    assert ad.nn.Parameter(2.0).value.shape == ()


def test_parameter_copies_its_input_and_is_read_only():
    source = np.ones(3)
    w = ad.nn.Parameter(source)
    source[0] = 5.0
    assert w.value[0] == 1.0
    with pytest.raises(ValueError, match="read-only"):
        w.value[0] = 2.0


def test_parameter_value_assignment_adopts_owned_arrays_and_copies_views():
    w = ad.nn.Parameter(np.zeros((2, 2)))
    fresh = np.ones((2, 2))
    w.value = fresh
    assert w.value is fresh and not fresh.flags.writeable
    base = np.arange(8.0).reshape(2, 4)
    view = base[:, :2]
    w.value = view
    base[0, 0] = 100.0
    assert w.value[0, 0] == 0.0


@pytest.mark.parametrize("new, error, match", [
    (np.ones(3), ValueError, r"shape \(3,\)"),
    (np.ones((2, 2), np.float32), TypeError, "float32"),
    (np.ones((2, 2), int), TypeError, "int"),
    (np.array([[None, None], [None, None]]), TypeError, "object array"),
])
def test_parameter_value_assignment_is_validated(new, error, match):
    w = ad.nn.Parameter(np.zeros((2, 2)))
    with pytest.raises(error, match=match):
        w.value = new
    np.testing.assert_array_equal(w.value, np.zeros((2, 2)))


def test_parameter_refuses_traced_values():
    w = ad.nn.Parameter(np.zeros(2))

    def assign(x):
        w.value = x
        return np.sum(x)

    with pytest.raises(TypeError, match="functional_call"):
        ad.grad(assign)(np.ones(2))
    with pytest.raises(TypeError, match="traced"):
        ad.nn.Parameter(ad.Var(np.ones(2)))


def test_a_recorded_tape_keeps_the_old_value_after_an_update():
    w = ad.nn.Parameter(np.array([3.0]))
    loss = np.sum(w * w)
    w.value = np.array([10.0])
    loss.backward()
    np.testing.assert_array_equal(w.grad, [6.0])


def test_inside_a_transform_a_parameter_stays_on_the_hand_built_tape():
    w = ad.nn.Parameter(np.array([2.0]))
    x = np.array([3.0])
    with ad.no_grad():  # nothing recorded for w: a plain gradient
        gradient = ad.grad(lambda z: np.sum(w * z * z))(x)
    assert isinstance(gradient, np.ndarray)
    np.testing.assert_allclose(gradient, [12.0])
    # recorded: the gradient 2 w x is itself differentiable with respect to w
    gradient = ad.grad(lambda z: np.sum(w * z * z))(x)
    np.testing.assert_allclose(gradient.value, [12.0])
    np.sum(gradient).backward()
    np.testing.assert_allclose(w.grad, 2 * x)


# ----------------------------------------------------------------------------------------------
# Module
# ----------------------------------------------------------------------------------------------


class Block(ad.nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = ad.nn.Parameter(np.ones(3))
        self.inner = ad.nn.Linear(3, 3, rng=0)
        self.heads = [ad.nn.Linear(3, 2, rng=1), ad.nn.Linear(3, 1, bias=False, rng=2)]
        self.shared = self.heads[0]  # the same module twice: its parameters appear once
        self.label = "block"

    def forward(self, x):
        h = self.inner(x * self.scale)
        return np.sum(self.heads[0](h)) + np.sum(self.heads[1](h))


def test_parameters_are_found_in_attributes_nested_modules_and_lists():
    names = [name for name, _ in Block().named_parameters()]
    assert names == ["scale", "inner.weight", "inner.bias", "heads.0.weight", "heads.0.bias",
                     "heads.1.weight"]
    assert len(list(Block().parameters())) == 6
    assert [name for name, _ in Block().named_modules()] == ["", "inner", "heads.0", "heads.1"]


def test_backward_fills_every_parameter_gradient():
    block = Block()
    block(np.ones((4, 3))).backward()
    for name, parameter in block.named_parameters():
        assert parameter.grad is not None and parameter.grad.shape == parameter.shape, name
    block.zero_grad()
    assert all(p.grad is None for p in block.parameters())


def test_zero_grad_with_zeros():
    block = Block()
    block(np.ones((2, 3))).backward()
    block.zero_grad(set_to_none=False)
    assert all(np.array_equal(p.grad, np.zeros(p.shape)) for p in block.parameters())


def test_train_and_eval_reach_every_submodule():
    block = Block()
    assert block.eval() is block
    assert not any(m.training for m in block.modules())
    block.train()
    assert all(m.training for m in block.modules())
    with pytest.raises(TypeError):
        block.train("no")


def test_state_dict_round_trip_and_copies():
    source, target = mlp(0), mlp(1)
    state = source.state_dict()
    assert list(state) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    state["0.bias"][:] = 9.0  # a copy: the model is unaffected
    assert not np.any(source[0].bias.value == 9.0)
    state = source.state_dict()
    target.load_state_dict(state)
    for (name, a), (_, b) in zip(source.named_parameters(), target.named_parameters()):
        np.testing.assert_array_equal(a.value, b.value, err_msg=name)


@pytest.mark.parametrize("edit, error, match", [
    (lambda s: s.pop("2.bias"), KeyError, r"missing \['2.bias'\]"),
    (lambda s: s.update(extra=np.ones(1)), KeyError, r"unexpected \['extra'\]"),
    (lambda s: s.update({"0.weight": np.ones((4, 5))}), ValueError, r"shape \(4, 5\)"),
    (lambda s: s.update({"0.weight": np.ones((5, 4), int)}), TypeError, "int64"),
    (lambda s: s.update({"2.bias": np.array([None] * 3)}), TypeError, "object array"),
])
def test_load_state_dict_checks_names_shapes_and_types_before_assigning(edit, error, match):
    model = mlp(0)
    before = model.state_dict()
    state = mlp(1).state_dict()
    edit(state)
    with pytest.raises(error, match=match):
        model.load_state_dict(state)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_load_state_dict_non_strict_reports_what_it_skipped():
    model = mlp(0)
    state = mlp(1).state_dict()
    del state["2.bias"]
    state["other"] = np.zeros(2)
    result = model.load_state_dict(state, strict=False)
    assert result.missing_keys == ["2.bias"] and result.unexpected_keys == ["other"]
    np.testing.assert_array_equal(model[0].weight.value, state["0.weight"])


def test_load_state_dict_casts_to_the_parameter_dtype():
    model = mlp(0).to(np.float32)
    model.load_state_dict(mlp(1).state_dict())
    assert all(p.dtype == np.float32 for p in model.parameters())


def test_to_dtype_converts_every_parameter():
    model = mlp(0)
    x = RNG.normal(size=(2, 4)).astype(np.float32)
    assert model.to(np.float32) is model
    out = model(x)
    assert out.dtype == np.float32
    np.sum(out).backward()
    assert all(p.grad.dtype == np.float32 for p in model.parameters())
    with pytest.raises(TypeError, match="floating"):
        model.to(np.int32)


@pytest.mark.parametrize("assignment, error, match", [
    (lambda m: setattr(m, "cache", ad.Var(np.ones(2))), TypeError, "never holds traced"),
    (lambda m: setattr(m, "scale", np.ones(3)), TypeError, r"\.value"),
])
def test_module_refuses_traced_attributes_and_arrays_over_parameters(assignment, error, match):
    with pytest.raises(error, match=match):
        assignment(Block())


def test_parameter_slot_can_be_cleared_with_none():
    layer = ad.nn.Linear(2, 2, rng=0)
    layer.bias = None
    assert [name for name, _ in layer.named_parameters()] == ["weight"]
    assert layer(np.ones((1, 2))).shape == (1, 2)


def test_forgetting_super_init_is_a_clear_error():
    class Broken(ad.nn.Module):
        def __init__(self):
            self.w = ad.nn.Parameter(np.ones(1))

    with pytest.raises(RuntimeError, match="super"):
        Broken()


def test_a_list_holding_parameters_is_refused_with_a_reason():
    module = ad.nn.Module()
    module.weights = [ad.nn.Parameter(np.ones(1))]
    with pytest.raises(TypeError, match="list holding a Parameter"):
        list(module.parameters())


def test_base_module_forward_is_required():
    with pytest.raises(TypeError, match="no forward"):
        ad.nn.Module()(1.0)


@pytest.mark.parametrize("clone", [copy.deepcopy, lambda m: pickle.loads(pickle.dumps(m))],
                         ids=["deepcopy", "pickle"])
def test_copied_models_are_independent_and_trainable(clone):
    model = mlp(0)
    F.cross_entropy(model(X), Y).backward()
    twin = clone(model)
    assert twin[0].weight is not model[0].weight
    twin.zero_grad()
    F.cross_entropy(twin(X), Y).backward()
    for (name, a), (_, b) in zip(model.named_parameters(), twin.named_parameters()):
        np.testing.assert_array_equal(a.value, b.value)
        np.testing.assert_allclose(a.grad, b.grad, err_msg=name)
    twin[0].weight.value = np.zeros((5, 4))
    assert np.any(model[0].weight.value != 0)
    assert holds_no_traced_value(twin)


def test_sequential_behaves_like_a_list():
    model = mlp(0)
    assert len(model) == 3 and isinstance(model[1], ad.nn.Tanh)
    assert [type(layer).__name__ for layer in model] == ["Linear", "Tanh", "Linear"]
    head = model[:2]
    assert isinstance(head, ad.nn.Sequential) and head[0] is model[0]
    assert "(0): Linear(in_features=4, out_features=5, bias=True)" in repr(model)
    with pytest.raises(TypeError, match="modules"):
        ad.nn.Sequential(ad.nn.ReLU(), np.tanh)


# ----------------------------------------------------------------------------------------------
# functional_call
# ----------------------------------------------------------------------------------------------

X = RNG.normal(size=(6, 4))
Y = np.array([0, 2, 1, 1, 0, 2])


def loss_of(model):
    return lambda params: F.cross_entropy(ad.nn.functional_call(model, params, X), Y)


def test_functional_call_with_plain_arrays_is_the_module():
    model = mlp(0)
    params = {name: p.value for name, p in model.named_parameters()}
    np.testing.assert_array_equal(ad.nn.functional_call(model, params, X), model(X).value)
    doubled = {name: 2 * value for name, value in params.items()}
    expected = mlp(0)
    expected.load_state_dict(doubled)
    np.testing.assert_allclose(ad.nn.functional_call(model, doubled, X), expected(X).value)


def test_grad_through_functional_call_equals_backward():
    model = mlp(0)
    params = dict(model.state_dict())
    gradient = ad.grad(loss_of(model))(params)
    F.cross_entropy(model(X), Y).backward()
    for name, parameter in model.named_parameters():
        np.testing.assert_allclose(gradient[name], parameter.grad, rtol=1e-12, err_msg=name)


@pytest.mark.parametrize("activation", [ad.nn.Tanh, ad.nn.Sigmoid, ad.nn.Softplus])
def test_hvp_of_a_network_loss_equals_differenced_gradients(activation):
    model = mlp(3, activation)
    params = model.state_dict()
    direction = {name: RNG.normal(size=value.shape) for name, value in params.items()}
    check_hvp(loss_of(model), params, direction)
    assert holds_no_traced_value(model)


def test_hessian_of_a_network_loss_is_symmetric_and_matches_hvp():
    model = ad.nn.Sequential(ad.nn.Linear(2, 3, rng=0), ad.nn.Tanh(), ad.nn.Linear(3, 2, rng=1))
    x, y = RNG.normal(size=(4, 2)), np.array([0, 1, 1, 0])
    params = model.state_dict()
    names = list(params)
    sizes = [params[n].size for n in names]

    def flat_loss(vector):
        pieces = np.split(np.arange(vector.shape[0]), np.cumsum(sizes)[:-1])
        tree = {n: vector[idx].reshape(params[n].shape) for n, idx in zip(names, pieces)}
        return F.cross_entropy(ad.nn.functional_call(model, tree, x), y)

    theta = np.concatenate([params[n].ravel() for n in names])
    hessian = ad.hessian(flat_loss)(theta)
    np.testing.assert_allclose(hessian, hessian.T, atol=1e-12)
    v = RNG.normal(size=theta.shape)
    np.testing.assert_allclose(ad.hvp(flat_loss, theta, v), hessian @ v, atol=1e-12)


def test_module_state_never_holds_traced_values_during_or_after_a_transform():
    seen = []

    class Probe(ad.nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = ad.nn.Linear(4, 3, rng=0)

        def forward(self, x):
            seen.append((isinstance(self.layer.weight, Traced)
                         and not isinstance(self.layer.weight, ad.nn.Parameter),
                         holds_no_traced_value(self)))
            return self.layer(x)

    model = Probe()
    params = model.state_dict()
    ad.grad(loss_of(model))(params)
    ad.hvp(loss_of(model), params, params)
    ad.jacfwd(lambda p: ad.nn.functional_call(model, p, X))(params)
    assert seen == [(True, True)] * 3
    assert holds_no_traced_value(model)
    assert type(model.layer.weight) is ad.nn.Parameter


def test_substitution_ends_when_the_call_raises():
    model = mlp(0)

    class Boom(Exception):
        pass

    def failing(params):
        ad.nn.functional_call(model, params, X)
        raise Boom

    with pytest.raises(Boom):
        ad.grad(lambda p: failing(p))(model.state_dict())
    assert type(model[0].weight) is ad.nn.Parameter
    assert module_module._SUBSTITUTES.get() is None


def test_substitution_is_local_to_the_thread():
    model = mlp(0)
    zeros = {name: np.zeros(value.shape) for name, value in model.state_dict().items()}
    results = {}
    started = threading.Event()
    release = threading.Event()

    class Waiting(ad.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, x):
            started.set()
            release.wait(5)
            return self.model(x)

    def in_thread():
        results["thread"] = ad.nn.functional_call(Waiting(), {}, X)

    thread = threading.Thread(target=in_thread)
    thread.start()
    started.wait(5)
    results["main"] = ad.nn.functional_call(model, zeros, X)
    release.set()
    thread.join()
    np.testing.assert_array_equal(results["main"], np.zeros((6, 3)))
    np.testing.assert_allclose(results["thread"], model(X).value)


def test_missing_parameters_are_constants_and_strict_requires_all():
    model = mlp(0)
    gradient = ad.grad(lambda w: F.cross_entropy(
        ad.nn.functional_call(model, {"0.weight": w}, X), Y))(model[0].weight.value)
    F.cross_entropy(model(X), Y).backward()
    np.testing.assert_allclose(gradient, model[0].weight.grad, rtol=1e-12)
    with pytest.raises(KeyError, match="missing"):
        ad.nn.functional_call(model, {"0.weight": model[0].weight.value}, X, strict=True)


@pytest.mark.parametrize("params, error, match", [
    ({"0.weights": np.zeros((5, 4))}, KeyError, "unknown parameter"),
    ({"0.weight": np.zeros((4, 5))}, ValueError, r"shape \(4, 5\)"),
    ({"0.weight": np.zeros((5, 4), int)}, TypeError, "floating"),
    ([("0.weight", np.zeros((5, 4)))], TypeError, "dict"),
])
def test_functional_call_checks_its_params(params, error, match):
    with pytest.raises(error, match=match):
        ad.nn.functional_call(mlp(0), params, X)


def test_module_docstring_examples_run():
    result = doctest.testmod(module_module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
