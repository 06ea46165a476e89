"""``ad.optim.LBFGS`` for networks: torch.optim.LBFGS's closure convention and iterates."""

import copy
import doctest

import numpy as np
import pytest

import autodiff as ad
from autodiff.optim import lbfgs_network

F = ad.nn.functional


def number(loss):
    """A finished tape value (what the closure returns) as a float."""
    return float(ad.stop_gradient(loss))


def rosenbrock_closure(w, optimizer):
    def closure():
        optimizer.zero_grad()
        loss = (1 - w[0]) ** 2 + 100 * (w[1] - w[0] ** 2) ** 2
        loss.backward()
        return loss

    return closure


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_minimises_rosenbrock(line_search_fn):
    w = ad.nn.Parameter(np.array([-1.2, 1.0]))
    optimizer = ad.optim.LBFGS([w], lr=1.0 if line_search_fn else 0.1, max_iter=50,
                               line_search_fn=line_search_fn)
    closure = rosenbrock_closure(w, optimizer)
    losses = [number(optimizer.step(closure)) for _ in range(20)]
    np.testing.assert_allclose(w.value, [1.0, 1.0], atol=1e-3)
    assert losses[-1] < 1e-6 < losses[0]
    state = optimizer.state[id(w)]
    assert state["n_iter"] > 20 and state["func_evals"] >= state["n_iter"]


def mlp_problem(seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(30, 4)).astype(dtype)
    y = rng.integers(0, 3, size=30)
    model = ad.nn.Sequential(ad.nn.Linear(4, 6, rng=seed), ad.nn.Tanh(),
                             ad.nn.Linear(6, 3, rng=seed + 1)).to(dtype)
    return model, X, y


def network_closure(model, X, y, optimizer):
    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(model(X), y)
        loss.backward()
        return loss

    return closure


def torch_twin(model, X, y, options):
    """torch's LBFGS on a copy of ``model`` (weights copied), and its closure."""
    torch = pytest.importorskip("torch")
    twin = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3))
    twin = twin.double()
    with torch.no_grad():
        for theirs, ours in zip(twin.parameters(), model.parameters()):
            theirs.copy_(torch.from_numpy(ours.value.copy()))
    reference = torch.optim.LBFGS(twin.parameters(), **options)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)

    def closure():
        reference.zero_grad()
        loss = torch.nn.functional.cross_entropy(twin(Xt), yt)
        loss.backward()
        return loss

    return twin, reference, closure


def test_lbfgs_follows_torch_trajectory_with_fixed_steps():
    model, X, y = mlp_problem()
    options = dict(lr=0.5, max_iter=10, history_size=5)
    twin, reference, torch_closure = torch_twin(model, X, y, options)
    optimizer = ad.optim.LBFGS(model.parameters(), **options)
    closure = network_closure(model, X, y, optimizer)
    for _ in range(4):
        ours = number(optimizer.step(closure))
        assert ours == pytest.approx(reference.step(torch_closure).item(), rel=1e-8)
        for mine, other in zip(model.parameters(), twin.parameters()):
            np.testing.assert_allclose(mine.value, other.detach().numpy(), rtol=1e-7,
                                       atol=1e-9)
    state = optimizer.state[id(model[0].weight)]
    torch_state = reference.state[reference._params[0]]
    assert (state["func_evals"], state["n_iter"]) == (torch_state["func_evals"],
                                                      torch_state["n_iter"])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lbfgs_with_strong_wolfe_tracks_torch(seed):
    """The line searches interpolate differently, so the paths part after a few iterations:
    the losses after each step stay within 2 %."""
    model, X, y = mlp_problem(seed)
    options = dict(lr=1, max_iter=10, history_size=5, line_search_fn="strong_wolfe")
    _, reference, torch_closure = torch_twin(model, X, y, options)
    optimizer = ad.optim.LBFGS(model.parameters(), **options)
    closure = network_closure(model, X, y, optimizer)
    for _ in range(6):
        ours = number(optimizer.step(closure))
        assert ours == pytest.approx(reference.step(torch_closure).item(), rel=2e-2)


def test_lbfgs_keeps_float32_parameters():
    model, X, y = mlp_problem(1, np.float32)
    optimizer = ad.optim.LBFGS(model.parameters(), max_iter=5)
    closure = network_closure(model, X, y, optimizer)
    first = number(optimizer.step(closure))
    assert number(optimizer.step(closure)) < first
    assert all(p.value.dtype == np.float32 for p in model.parameters())


def test_lbfgs_stops_at_once_on_a_zero_gradient():
    w = ad.nn.Parameter(np.array([1.0, 1.0]))
    optimizer = ad.optim.LBFGS([w])
    assert number(optimizer.step(rosenbrock_closure(w, optimizer))) == 0.0
    assert optimizer.state[id(w)] == {"func_evals": 1, "n_iter": 0}


def test_lbfgs_state_dict_round_trip_continues_identically():
    model, X, y = mlp_problem(2)
    optimizer = ad.optim.LBFGS(model.parameters(), max_iter=4, line_search_fn="strong_wolfe")
    closure = network_closure(model, X, y, optimizer)
    optimizer.step(closure)
    twin, _, _ = mlp_problem(2)
    twin.load_state_dict(copy.deepcopy(model.state_dict()))
    resumed = ad.optim.LBFGS(twin.parameters(), max_iter=4, line_search_fn="strong_wolfe")
    resumed.load_state_dict(copy.deepcopy(optimizer.state_dict()))
    twin_closure = network_closure(twin, X, y, resumed)
    for _ in range(2):
        assert number(optimizer.step(closure)) == number(resumed.step(twin_closure))
    for a, b in zip(model.parameters(), twin.parameters()):
        np.testing.assert_array_equal(a.value, b.value)


def test_lbfgs_load_state_dict_checks_the_layout():
    model, X, y = mlp_problem(3)
    optimizer = ad.optim.LBFGS(model.parameters(), max_iter=3)
    optimizer.step(network_closure(model, X, y, optimizer))
    saved = optimizer.state_dict()
    saved["state"][0]["d"] = np.zeros(3)
    with pytest.raises(ValueError, match="shape"):
        ad.optim.LBFGS(model.parameters()).load_state_dict(saved)


@pytest.mark.parametrize("option, value", [
    ("lr", -1.0), ("max_iter", 0), ("max_eval", 0), ("tolerance_grad", -1.0),
    ("tolerance_change", float("nan")), ("history_size", 0), ("line_search_fn", "wolfe"),
])
def test_lbfgs_refuses_bad_hyper_parameters(option, value):
    model, _, _ = mlp_problem()
    with pytest.raises(ValueError, match=option):
        ad.optim.LBFGS(model.parameters(), **{option: value})


def test_lbfgs_needs_a_closure_and_one_group():
    model, _, _ = mlp_problem()
    with pytest.raises(TypeError, match="closure"):
        ad.optim.LBFGS(model.parameters()).step()
    with pytest.raises(ValueError, match="parameter groups"):
        ad.optim.LBFGS([{"params": list(model[0].parameters())},
                        {"params": list(model[2].parameters())}])


def test_docstring_example():
    assert doctest.testmod(lbfgs_network).failed == 0
