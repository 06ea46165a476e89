"""ad.nn layers: derivatives (inputs and parameters, both modes, order 2), values, shapes."""

import doctest

import numpy as np
import pytest

import autodiff as ad
from autodiff.nn import layers as layers_module
from autodiff.testing import check_grads

RNG = np.random.default_rng(11)


def away_from(points, shape, margin=0.2):
    x = RNG.normal(scale=1.5, size=shape)
    for point in points:
        close = np.abs(x - point) < margin
        x = np.where(close, point + np.copysign(margin + 0.1, x - point), x)
    return x


# name -> (layer, input)
LAYERS = {
    "Linear": (ad.nn.Linear(4, 3, rng=0), RNG.normal(size=(5, 4))),
    "Linear_no_bias": (ad.nn.Linear(4, 3, bias=False, rng=0), RNG.normal(size=(5, 4))),
    "Linear_one_sample": (ad.nn.Linear(4, 3, rng=0), RNG.normal(size=4)),
    "Linear_stacked": (ad.nn.Linear(4, 3, rng=0), RNG.normal(size=(2, 5, 4))),
    "Maxout": (ad.nn.Maxout(4, 3, pieces=3, rng=0), RNG.normal(size=(5, 4))),
    "ReLU": (ad.nn.ReLU(), away_from([0.0], (5, 4))),
    "LeakyReLU": (ad.nn.LeakyReLU(0.2), away_from([0.0], (5, 4))),
    "Tanh": (ad.nn.Tanh(), RNG.normal(size=(5, 4))),
    "Sigmoid": (ad.nn.Sigmoid(), RNG.normal(size=(5, 4))),
    "HardTanh": (ad.nn.HardTanh(), away_from([-1.0, 1.0], (5, 4))),
    "Softplus": (ad.nn.Softplus(), RNG.normal(size=(5, 4))),
    "Softmax": (ad.nn.Softmax(), RNG.normal(size=(5, 4))),
    "LogSoftmax": (ad.nn.LogSoftmax(), RNG.normal(size=(5, 4))),
    "Flatten": (ad.nn.Flatten(), RNG.normal(size=(2, 3, 4))),
    "Identity": (ad.nn.Identity(), RNG.normal(size=(2, 3))),
    "MLP": (ad.nn.Sequential(ad.nn.Flatten(), ad.nn.Linear(6, 5, rng=1), ad.nn.Tanh(),
                             ad.nn.Linear(5, 2, rng=2), ad.nn.LogSoftmax()),
            RNG.normal(size=(3, 2, 3))),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_check_grads_in_input_and_parameters(name):
    layer, x = LAYERS[name]
    params = layer.state_dict()
    if params:
        check_grads(lambda x_, p: ad.nn.functional_call(layer, p, x_), (x, params), order=2)
    else:
        check_grads(layer, x, order=2)


@pytest.mark.parametrize("name", ["Linear", "Maxout", "MLP"])
def test_layer_backward_equals_functional_gradient(name):
    layer, x = LAYERS[name]
    weights = RNG.normal(size=layer(x).shape)
    layer.zero_grad()
    np.sum(layer(x) * weights).backward()
    gradient = ad.grad(lambda p: np.sum(ad.nn.functional_call(layer, p, x) * weights))(
        layer.state_dict())
    for parameter_name, parameter in layer.named_parameters():
        np.testing.assert_allclose(parameter.grad, gradient[parameter_name], rtol=1e-12)
    layer.zero_grad()


def test_linear_computes_x_times_weight_transposed_plus_bias():
    layer = ad.nn.Linear(4, 3, rng=0)
    x = RNG.normal(size=(5, 4))
    np.testing.assert_allclose(layer(x).value, x @ layer.weight.value.T + layer.bias.value)
    assert layer.weight.shape == (3, 4) and layer.bias.shape == (3,)


@pytest.mark.parametrize("in_features", [1, 16, 400])
def test_linear_default_initialisation_is_torch_s(in_features):
    layer = ad.nn.Linear(in_features, 50, rng=3)
    bound = 1 / np.sqrt(in_features)
    for parameter in (layer.weight, layer.bias):
        assert np.all(np.abs(parameter.value) <= bound)
        assert np.abs(parameter.value).max() > 0.9 * bound


def test_layers_are_reproducible_from_their_seed_and_keep_their_dtype():
    a, b = ad.nn.Linear(3, 2, rng=5), ad.nn.Linear(3, 2, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(a.weight.value, b.weight.value)
    single = ad.nn.Maxout(3, 2, 2, rng=0, dtype=np.float32)
    assert all(p.dtype == np.float32 for p in single.parameters())
    assert single(np.ones((1, 3), np.float32)).dtype == np.float32


def test_maxout_takes_the_largest_piece():
    layer = ad.nn.Maxout(4, 3, pieces=2, rng=0)
    x = RNG.normal(size=(5, 4))
    z = x @ layer.weight.value.T + layer.bias.value
    np.testing.assert_allclose(layer(x).value, z.reshape(5, 3, 2).max(-1))


def test_maxout_with_a_zero_piece_is_a_relu():
    layer = ad.nn.Maxout(4, 3, pieces=2, rng=0)
    weight, bias = layer.weight.value.copy(), layer.bias.value.copy()
    weight[1::2] = 0.0
    bias[1::2] = 0.0
    layer.weight.value, layer.bias.value = weight, bias
    x = RNG.normal(size=(5, 4))
    np.testing.assert_allclose(layer(x).value, np.maximum(x @ weight[::2].T + bias[::2], 0))


def test_maxout_splits_the_gradient_at_a_tie():
    layer = ad.nn.Maxout(1, 1, pieces=2, bias=False, rng=0)
    layer.weight.value = np.array([[1.0], [1.0]])
    np.sum(layer(np.array([[2.0]]))).backward()
    np.testing.assert_allclose(layer.weight.grad, [[1.0], [1.0]])


@pytest.mark.parametrize("start, end, shape", [(1, -1, (2, 60)), (0, -1, (120,)),
                                                (1, 2, (2, 12, 5)), (2, 3, (2, 3, 20))])
def test_flatten_shapes(start, end, shape):
    assert ad.nn.Flatten(start, end)(np.zeros((2, 3, 4, 5))).shape == shape


def test_activation_modules_match_functional():
    x = RNG.normal(size=(3, 4))
    F = ad.nn.functional
    pairs = [(ad.nn.ReLU(), F.relu(x)), (ad.nn.LeakyReLU(0.3), F.leaky_relu(x, 0.3)),
             (ad.nn.Tanh(), np.tanh(x)), (ad.nn.Sigmoid(), F.sigmoid(x)),
             (ad.nn.HardTanh(-0.5, 0.5), np.clip(x, -0.5, 0.5)),
             (ad.nn.Softplus(2.0), F.softplus(x, 2.0)), (ad.nn.Softmax(0), F.softmax(x, 0)),
             (ad.nn.LogSoftmax(), F.log_softmax(x))]
    for layer, expected in pairs:
        np.testing.assert_allclose(layer(x), expected, err_msg=repr(layer))


@pytest.mark.parametrize("build, error, match", [
    (lambda: ad.nn.Linear(0, 3), ValueError, "in_features"),
    (lambda: ad.nn.Linear(3, 2.5), ValueError, "out_features"),
    (lambda: ad.nn.Linear(3, 2, dtype=np.int64), TypeError, "floating"),
    (lambda: ad.nn.Linear(3, 2, rng="seed"), TypeError, "rng"),
    (lambda: ad.nn.Maxout(3, 2, pieces=0), ValueError, "pieces"),
    (lambda: ad.nn.HardTanh(1.0, 1.0), ValueError, "min_val < max_val"),
    (lambda: ad.nn.Softplus(-1.0), ValueError, "beta"),
    (lambda: ad.nn.Linear(3, 2, rng=0)(np.ones((4, 2))), ValueError, "3 features"),
    (lambda: ad.nn.Flatten()(np.float64(1.0)), ValueError, "at least one axis"),
    (lambda: ad.nn.Flatten(2, 1)(np.zeros((2, 3, 4))), ValueError, "empty"),
])
def test_bad_layer_arguments_raise_clear_errors(build, error, match):
    with pytest.raises(error, match=match):
        build()


def test_layer_reprs_show_their_settings():
    assert repr(ad.nn.Linear(3, 2, bias=False)) == (
        "Linear(in_features=3, out_features=2, bias=False)")
    assert repr(ad.nn.Maxout(3, 2, 4)) == (
        "Maxout(in_features=3, out_features=2, pieces=4, bias=True)")
    assert repr(ad.nn.LeakyReLU()) == "LeakyReLU(negative_slope=0.01)"


def test_module_docstring_examples_run():
    result = doctest.testmod(layers_module)
    assert result.failed == 0 and result.attempted > 0
