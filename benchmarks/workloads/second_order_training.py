"""Second-order training of a deep autoencoder of the digits (issue 11).

Martens' (2010, "Deep learning via Hessian-free optimization", ICML, §5) classic test on a small
scale: the 1797 UCI digits (pixels scaled to [0, 1], a stratified 80 % training split) through
a 64-128-32-8-32-128-64 tanh autoencoder (linear code and output layers), squared error. Deep
and narrow, its loss surface has the long, ill-conditioned valleys and plateaus where curvature
pays.  Every method is measured by the mean squared error; Hessian-free minimises it in Martens'
units, ``½ Σ_units`` of the squared error averaged over the cases (his objective for the FACES
autoencoder, linear output), so that his damping ``λ = 1`` means what it means in the paper: with
``F.mse_loss`` (a further mean over the 64 output units) the curvature is 32 times smaller and
``λ = 1`` damps almost every step to a gradient step.  Adam and L-BFGS (strong Wolfe) are
invariant to that scale.

BLAS threads: run with ``OPENBLAS_NUM_THREADS=1`` on a shared machine.  With two OpenBLAS
threads on 2 loaded cores, a full-batch Gauss-Newton product (0.29 GFLOP) took 0.36 s instead
of 0.036 s (the threads wait on each other), which hits the full-batch methods' large products
and spares Adam's 64-row ones.  The thread setting is recorded in the results.

* ``benchmarks(quick)`` (the harness) times one unit of work per method from the same weights:
  an epoch of Adam (batch 64), a Hessian-free step (gradient on the whole training set,
  Gauss-Newton products on a random quarter of it, Martens 2010, §4.3) and an L-BFGS step (5
  iterations, whole training set).
* ``python -m benchmarks.workloads.second_order_training [--seconds S] [--cpu-time]`` trains
  with each method for ``S`` seconds of wall time (or of the process's CPU time with
  ``--cpu-time``: on a shared, loaded machine the methods, run one after the other, would
  otherwise get different shares of the cores; with one BLAS thread the two clocks agree on an
  idle machine) (Adam's learning rate tuned on the grid below, each
  candidate with the same budget) and writes the training-loss curves, against wall time and
  against epochs (passes over the training set), to
  ``benchmarks/results/second_order_training.md``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from ..anchors import autodiff_feature
from ..harness import Benchmark, Ratio, Side

NAME = "second_order_training"
LARGE_ARRAYS = False  # at most 1438 x 128 float64 per layer output
ISOLATION = "workload"  # BLAS-heavy: one OpenBLAS pool for all sides

WIDTHS = (64, 128, 32, 8, 32, 128, 64)
ADAM_BATCH = 64
ADAM_GRID = (1e-3, 3e-3, 1e-2)
HF_OPTIONS = {"damping": 1.0, "cg_max_iter": 250}
# Gauss-Newton products on a fresh random quarter of the training set at every step, the
# gradient on all of it (Martens 2010, §4.3). Training loss after 15 s / 60 s of CPU time (one
# BLAS thread): curvature on all of the set 0.0110 / 0.00498, on 1/4 0.00663 / 0.00463, on 1/8
# 0.00631 / 0.00485, on 1/16 0.00708 / (0.00604 at 30 s); the preconditioner (32 samples) moves
# 1/4 to 0.00658 / 0.00462 and 1/8 to 0.00639 / 0.00476
HF_CURVATURE_FRACTION = 1 / 4
MARTENS_SCALE = WIDTHS[-1] / 2  # ½ Σ_units mean_cases = 32 x the mean squared error
LBFGS_OPTIONS = {"max_iter": 5, "history_size": 20, "line_search_fn": "strong_wolfe"}
RESULTS = Path(__file__).resolve().parent.parent / "results" / "second_order_training.md"


def digits_pixels():
    """The training images, pixels in [0, 1] (the autoencoder's inputs and targets)."""
    data = autodiff_feature("nn.data")
    X, y = data.load_digits()
    (X_train, _), _, _ = data.train_val_test_split(X, y, val_fraction=0.0, test_fraction=0.2,
                                                   rng=0)
    return X_train / 16.0


def autoencoder(seed=0):
    """64-128-32-8-32-128-64 with tanh between the layers (none after the code or output)."""
    nn = autodiff_feature("nn")
    rng = np.random.default_rng(seed)
    layers = []
    for index, (n_in, n_out) in enumerate(zip(WIDTHS, WIDTHS[1:])):
        layers.append(nn.Linear(n_in, n_out, rng=rng))
        if index not in (2, len(WIDTHS) - 2):  # the 8-unit code and the output stay linear
            layers.append(nn.Tanh())
    return nn.Sequential(*layers)


def training_loss(model, X):
    import autodiff as ad

    with ad.no_grad():
        return float(ad.nn.functional.mse_loss(model(X), X))


class Trainer:
    """One method on a fresh autoencoder: ``advance()`` does one unit of work (an Adam epoch, a
    Hessian-free step, an L-BFGS step) and returns the passes over the data it made."""

    def __init__(self, method, X, lr=None, seed=0):
        import autodiff as ad

        F = ad.nn.functional
        self.model, self.X = autoencoder(seed), X
        params = self.model.parameters()
        self.rng = np.random.default_rng(seed)
        if method == "adam":
            self.optimizer = ad.optim.Adam(params, lr=lr)
        elif method == "hessian-free":
            self.optimizer = ad.optim.HessianFree(params, **HF_OPTIONS)
        else:
            self.optimizer = ad.optim.LBFGS(params, **LBFGS_OPTIONS)
        self.method = method
        self._F = F

    def advance(self) -> float:
        model, X, F = self.model, self.X, self._F
        if self.method == "adam":
            order = self.rng.permutation(len(X))
            for start in range(0, len(X), ADAM_BATCH):
                batch = X[order[start:start + ADAM_BATCH]]
                self.optimizer.zero_grad()
                F.mse_loss(model(batch), batch).backward()
                self.optimizer.step()
            return 1.0
        if self.method == "hessian-free":
            size = max(1, round(HF_CURVATURE_FRACTION * len(X)))
            subset = X[self.rng.choice(len(X), size, replace=False)]
            self.optimizer.step(
                lambda: (model(X), lambda out: MARTENS_SCALE * F.mse_loss(out, X)),
                lambda: (model(subset), lambda out: MARTENS_SCALE * F.mse_loss(out, subset)))
            # the loss and gradient, then the G v products on the subset
            return 1.0 + self.optimizer.last_step.curvature_products * size / len(X)

        def closure():
            self.optimizer.zero_grad()
            loss = F.mse_loss(model(X), X)
            loss.backward()
            return loss

        before = self.optimizer.state.get(id(next(iter(model.parameters()))), {})
        evaluations = before.get("func_evals", 0)
        self.optimizer.step(closure)
        return float(self.optimizer.state[id(next(iter(model.parameters())))]["func_evals"]
                     - evaluations)


def curve(method, X, seconds, lr=None, clock=time.perf_counter):
    """``[(seconds, passes over the data, training loss)]`` within a time budget on ``clock``
    (the loss evaluations between units of work are not timed)."""
    trainer = Trainer(method, X, lr)
    points = [(0.0, 0.0, training_loss(trainer.model, X))]
    elapsed, passes = 0.0, 0.0
    while elapsed < seconds:
        start = clock()
        passes += trainer.advance()
        elapsed += clock() - start
        points.append((elapsed, passes, training_loss(trainer.model, X)))
    return points


def _loss_at(points, seconds):
    """The training loss reached by ``seconds`` of wall time (the last point before it)."""
    return min(loss for elapsed, _, loss in points if elapsed <= seconds)


def write_curves(seconds, path=RESULTS, cpu_time=False):
    X = digits_pixels()
    clock = time.process_time if cpu_time else time.perf_counter
    kind = "CPU time" if cpu_time else "wall time"
    adam = {lr: curve("adam", X, seconds, lr, clock) for lr in ADAM_GRID}
    best_lr = min(adam, key=lambda lr: adam[lr][-1][2])
    curves = {f"Adam (lr {best_lr:g}, batch {ADAM_BATCH})": adam[best_lr],
              f"Hessian-free (gradient full batch, curvature {HF_CURVATURE_FRACTION:.3g})":
                  curve("hessian-free", X, seconds, clock=clock),
              "L-BFGS (full batch, strong Wolfe)": curve("lbfgs", X, seconds, clock=clock)}
    marks = [seconds * fraction for fraction in (0.1, 0.25, 0.5, 1.0)]
    lines = [
        f"# Deep autoencoder of the digits: training loss against {kind} and epochs",
        "",
        f"64-128-32-8-32-128-64 tanh autoencoder, {len(X)} training images (pixels in [0, 1]), "
        f"mean squared error; {seconds:g} s of {kind} per method on this machine (2 cores, "
        f"shared; OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}). "
        "Adam's learning rate was chosen from "
        + ", ".join(f"{lr:g} (final loss {adam[lr][-1][2]:.4g})" for lr in ADAM_GRID)
        + f". Hessian-free: {HF_OPTIONS}, Gauss-Newton products on a random "
        f"{HF_CURVATURE_FRACTION:.3g} of the training set per step, on ½ Σ_units mean_cases of "
        f"the squared error (Martens' units, {MARTENS_SCALE:g} x the mean squared error); "
        f"L-BFGS: {LBFGS_OPTIONS}. An *epoch* is one pass "
        "over the training set: a forward and backward pass for Adam's mini-batches, and one "
        "per loss evaluation or Gauss-Newton product for the full-batch methods (a product on "
        "Hessian-free's curvature subset counts as that fraction of a pass).",
        "",
        f"## Training loss at equal {kind}",
        "",
        "| method | " + " | ".join(f"{mark:g} s" for mark in marks) + " | epochs |",
        "|---|" + "---|" * (len(marks) + 1),
    ]
    for label, points in curves.items():
        lines.append(f"| {label} | " + " | ".join(f"{_loss_at(points, m):.4g}" for m in marks)
                     + f" | {points[-1][1]:g} |")
    lines += ["", "## The curves", "", "| method | seconds | epochs | training loss |",
              "|---|---|---|---|"]
    for label, points in curves.items():
        step = max(1, len(points) // 25)
        for elapsed, passes, loss in points[::step] + ([points[-1]] if (len(points) - 1) % step
                                                        else []):
            lines.append(f"| {label} | {elapsed:.2f} | {passes:g} | {loss:.5g} |")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return curves


def _sides():
    X = digits_pixels()

    def side(method, lr=None):
        def build():
            trainer = Trainer(method, X, lr)
            return trainer.advance

        return build

    return (
        Side("Adam epoch (batch 64)", "autodiff", side("adam", 3e-3)),
        Side("Hessian-free step (curvature on 1/4)", "autodiff", side("hessian-free")),
        Side("L-BFGS step (5 iterations, full batch)", "autodiff", side("lbfgs")),
    )


def benchmarks(quick: bool) -> list[Benchmark]:
    return [Benchmark(
        "autoencoder 64-128-32-8-32-128-64 of the digits: one unit of work", "11",
        "an epoch of Adam, a Hessian-free step, an L-BFGS step (the curves: python -m "
        "benchmarks.workloads.second_order_training)", "Adam epoch (batch 64)", _sides(),
        ratios=(Ratio("Hessian-free step (curvature on 1/4)", "Adam epoch (batch 64)"),
                Ratio("L-BFGS step (5 iterations, full batch)", "Adam epoch (batch 64)")),
    )]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="time per method (default 60)")
    parser.add_argument("--cpu-time", action="store_true",
                        help="budget the process's CPU time instead of wall time (a loaded "
                        "machine)")
    args = parser.parse_args(argv)
    for label, points in write_curves(args.seconds, cpu_time=args.cpu_time).items():
        print(f"{label}: loss {points[-1][2]:.4g} after {points[-1][0]:.1f} s, "
              f"{points[-1][1]:g} epochs")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
