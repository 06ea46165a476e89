"""``ad.optim.minimize`` beside ``scipy.optimize.minimize`` given analytic derivatives (issue 5).

For each problem (extended Rosenbrock n = 1000 from (-1.2, 1, ...), Beale, Wood, extended
Powell singular n = 100, a convex quadratic n = 100 with condition number 1e4; only Rosenbrock
n = 20 and Beale with ``--quick``): wall time of one whole minimisation, with its
iterations and evaluations (``nfev``, ``ngev`` gradients, ``nhvp`` Hessian-vector products --
SciPy's ``njev``/``nhev``), the final ``f`` and the solver's own verdict.  Every solver runs
with its default options, except ``gd``, capped at 2000 iterations (200 with ``--quick``).
The dense-Hessian methods (``ad`` ``"newton"``, SciPy ``trust-exact``, SciPy ``BFGS``) run only
up to n = 100.

On Rosenbrock, SciPy's Newton-CG is also fed derivatives by ``ad.optim.scipy_callables`` and
by each anchor (issue 5's "scipy fed by jitted JAX / autograd / PyTorch / eager JAX").  From this
start SciPy's Newton-CG takes about 1600 iterations and 17000 products (it stops on its step
test at f ~ 0.015), so the autograd, PyTorch and eager-JAX feeds take 8 s to minutes per call:
they run only with ``--slow`` (jitted JAX too when ``--quick``).
Targets: ``newton-cg`` in at most 1.5x the iterations and 4x the wall time of SciPy's
Newton-CG with ``rosen_der`` / ``rosen_hess_prod``.

Issue 12 (compiled replay) compares ``minimize(method="newton-cg")`` on 1000-d Rosenbrock from
SciPy's documented start (``[1.3, 0.7, 0.8, 1.9, 1.2]`` tiled; n = 20 with ``--quick``) with
SciPy's Newton-CG given ``rosen``, ``rosen_der`` and ``rosen_hess_prod``, both with default
options: target 1.5x.  The two do not stop at the same place.  SciPy stops when the 1-norm of
its step falls below ``n · xtol`` (``xtol = 1e-5``), after 12 iterations at ``f = 0.010`` and
``‖∇f‖∞ = 0.71``, not at a minimiser; ``minimize`` stops at ``‖∇f‖∞ <= tol = 1e-5``, after 24
iterations.  So a second SciPy side runs to that same gradient test: ``xtol = 1e-12`` (its step
test never fires first) and a callback that stops it once ``‖∇f‖∞ <= 1e-5`` (the gradient SciPy
computed last at that point, so no extra evaluation).  Each side's notes give its iterations,
evaluations, products and final ``‖∇f‖∞``; the ratios over both SciPy sides are reported.
SciPy's Newton-CG fed by jitted JAX, the issue's "1.7x", runs beside them.
"""

from dataclasses import replace

import numpy as np

from .. import problems
from ..anchors import autodiff_feature, import_jax
from ..harness import Benchmark, Ratio, Side

NAME = "optimizers"
LARGE_ARRAYS = False  # n <= 1000: every array is below glibc's 128 kB mmap threshold
ISOLATION = "workload"  # arrays below the mmap threshold

AD_METHODS = ("newton-cg", "trust-ncg", "newton", "lbfgs", "cg", "gd")
#: SciPy method -> which analytic derivatives it is given
SCIPY_METHODS = {"Newton-CG": "hessp", "trust-ncg": "hessp", "trust-exact": "hess",
                 "L-BFGS-B": "", "CG": "", "BFGS": ""}
DENSE = {"newton", "trust-exact", "BFGS"}
DENSE_MAX_N = 100
#: methods that run on ``ad.hvp_operator`` (reported "not available" until it exists)
NEEDS_OPERATOR = {"newton-cg", "trust-ncg"}
BASELINE = "scipy Newton-CG (analytic)"


def _ad_info(result) -> dict:
    return {"nit": result.nit, "nfev": result.nfev, "ngev": result.ngev, "nhvp": result.nhvp,
            "f": float(result.fun), "success": bool(result.success)}


def _scipy_info(result) -> dict:
    return {"nit": int(result.nit), "nfev": int(result.nfev),
            "ngev": int(result.get("njev", 0)), "nhvp": int(result.get("nhev", 0)),
            "f": float(result.fun), "success": bool(result.success)}


def _ad_side(problem, method, gd_maxiter):
    def build():
        minimize = autodiff_feature("optim.minimize")
        if method in NEEDS_OPERATOR:
            autodiff_feature("hvp_operator")
        f = problem.make(np)
        options = {"maxiter": gd_maxiter} if method == "gd" else {}
        return lambda: minimize(f, problem.x0, method=method, **options)

    note = f"maxiter={gd_maxiter}" if method == "gd" else ""
    return Side(f"ad.optim.minimize {method}", "autodiff", build, info=_ad_info, note=note)


def _scipy_side(problem, method):
    def build():
        from scipy.optimize import minimize

        f = problem.make(np)
        derivatives = {"jac": problem.grad}
        if SCIPY_METHODS[method] == "hessp":
            derivatives["hessp"] = problem.hessp
        elif SCIPY_METHODS[method] == "hess":
            derivatives["hess"] = problem.hess
        return lambda: minimize(f, problem.x0, method=method, **derivatives)

    return Side(f"scipy {method} (analytic)", "scipy", build, info=_scipy_info)


def _fed_newton_cg(problem, quick):
    """SciPy's Newton-CG with ``fun``, ``jac`` and ``hessp`` from each library."""

    def scipy_newton_cg(fun, jac, hessp):
        from scipy.optimize import minimize

        return lambda: minimize(fun, problem.x0, jac=jac, hessp=hessp, method="Newton-CG")

    def autodiff_callables():
        autodiff_feature("hvp_operator")
        return scipy_newton_cg(*autodiff_feature("optim.scipy_callables")(problem.make(np)))

    def autograd_callables():
        import autograd
        import autograd.numpy as anp

        f = problem.make(anp)
        return scipy_newton_cg(f, autograd.grad(f), autograd.hessian_tensor_product(f))

    def torch_callables():
        import torch

        f = problem.make(torch)

        def fun(x):
            return f(torch.from_numpy(x)).item()

        def jac(x):
            xt = torch.from_numpy(x).requires_grad_(True)
            return torch.autograd.grad(f(xt), xt)[0].numpy()

        def hessp(x, p):
            xt = torch.from_numpy(x).requires_grad_(True)
            (g,) = torch.autograd.grad(f(xt), xt, create_graph=True)
            return torch.autograd.grad(g, xt, grad_outputs=torch.from_numpy(p))[0].numpy()

        return scipy_newton_cg(fun, jac, hessp)

    def jax_callables(jit):
        def build():
            jax = import_jax()
            f = problem.make(jax.numpy)
            gradient = jax.grad(f)

            def product(x, p):
                return jax.jvp(gradient, (x,), (p,))[1]

            wrap = jax.jit if jit else (lambda fn: fn)
            f, gradient, product = wrap(f), wrap(gradient), wrap(product)
            return scipy_newton_cg(lambda x: float(f(x)), lambda x: np.asarray(gradient(x)),
                                   lambda x, p: np.asarray(product(x, p)))

        return build

    return [
        Side("scipy Newton-CG + ad.optim.scipy_callables", "autodiff", autodiff_callables,
             info=_scipy_info),
        Side("scipy Newton-CG + JAX (jit)", "jax", jax_callables(True), info=_scipy_info,
             slow=quick),
        Side("scipy Newton-CG + autograd", "autograd", autograd_callables, info=_scipy_info,
             slow=True),
        Side("scipy Newton-CG + torch (backward, double backward)", "torch", torch_callables,
             info=_scipy_info, slow=True),
        Side("scipy Newton-CG + JAX (eager)", "jax", jax_callables(False), info=_scipy_info,
             slow=True),
    ]


SCIPY_START = (1.3, 0.7, 0.8, 1.9, 1.2)
GRADIENT_TOL = 1e-5  # minimize's default tol, on ‖∇f‖∞
SCIPY_DEFAULT = "scipy Newton-CG (rosen_der, rosen_hess_prod), defaults"
SCIPY_SAME_GRADIENT = "scipy Newton-CG (rosen_der, rosen_hess_prod), to ‖∇f‖∞ <= 1e-5"
AD_NEWTON_CG = "ad.optim.minimize newton-cg, defaults (compiled derivatives)"


def _gradient_norm(x) -> float:
    from scipy.optimize import rosen_der

    return float(np.max(np.abs(rosen_der(x))))


def _scipy_issue12_info(result) -> dict:
    info = _scipy_info(result)
    info["‖∇f‖∞"] = _gradient_norm(result.x)
    return info


def _ad_issue12_info(result) -> dict:
    info = _ad_info(result)
    info["‖∇f‖∞"] = float(np.max(np.abs(result.grad)))
    return info


def _scipy_newton_cg_side(x0, to_gradient_tol):
    def build():
        from scipy.optimize import minimize, rosen, rosen_der, rosen_hess_prod

        if not to_gradient_tol:
            return lambda: minimize(rosen, x0, jac=rosen_der, hessp=rosen_hess_prod,
                                    method="Newton-CG")
        last = {}

        def jac(x):
            last["x"], last["grad"] = x.copy(), rosen_der(x)
            return last["grad"]

        def callback(intermediate_result):
            x = intermediate_result.x
            grad = last["grad"] if np.array_equal(x, last["x"]) else rosen_der(x)
            if np.max(np.abs(grad)) <= GRADIENT_TOL:
                raise StopIteration  # SciPy >= 1.11 ends the run there

        return lambda: minimize(rosen, x0, jac=jac, hessp=rosen_hess_prod, method="Newton-CG",
                                callback=callback, options={"xtol": 1e-12})

    label = SCIPY_SAME_GRADIENT if to_gradient_tol else SCIPY_DEFAULT
    note = "xtol=1e-12, a callback stops it (success=False is that stop)" \
        if to_gradient_tol else ""
    return Side(label, "scipy", build, info=_scipy_issue12_info, note=note)


def _issue12_newton_cg(quick) -> Benchmark:
    """Issue 12's Newton-CG comparison (see the module docstring)."""
    n = 20 if quick else 1000
    x0 = np.tile(SCIPY_START, n // len(SCIPY_START))
    problem = problems.Problem(f"Rosenbrock n={n} from SciPy's start", x0, problems.rosenbrock,
                               problems.rosenbrock_grad, problems.rosenbrock_hess,
                               problems.rosenbrock_hessp)

    def ad_side(jit):
        def build():
            minimize = autodiff_feature("optim.minimize")
            autodiff_feature("hvp_operator")
            f = problem.make(np)
            return lambda: minimize(f, x0, method="newton-cg", jit=jit)

        return build

    jax_jit = _fed_newton_cg(problem, quick)[1]
    sides = (
        _scipy_newton_cg_side(x0, False),
        _scipy_newton_cg_side(x0, True),
        Side(AD_NEWTON_CG, "autodiff", ad_side(True), info=_ad_issue12_info,
             note="recordings kept per function: the warm-up call records them"),
        Side("ad.optim.minimize newton-cg, jit=False (eager derivatives)", "autodiff",
             ad_side(False), info=_ad_issue12_info),
        replace(jax_jit, info=_scipy_issue12_info),
    )
    return Benchmark(
        f"minimize {problem.name}", "12",
        "one Newton-CG minimisation, default options (SciPy's also to the same ‖∇f‖∞)",
        SCIPY_DEFAULT, sides,
        ratios=(Ratio(AD_NEWTON_CG, SCIPY_DEFAULT, 1.5, source="issue 12"),
                Ratio(AD_NEWTON_CG, SCIPY_SAME_GRADIENT),
                Ratio(jax_jit.label, SCIPY_DEFAULT),
                Ratio(AD_NEWTON_CG, SCIPY_SAME_GRADIENT, metric="nhvp")),
    )


def _sides(problem, gd_maxiter):
    dense_ok = problem.x0.size <= DENSE_MAX_N
    scipy = [_scipy_side(problem, m) for m in SCIPY_METHODS if dense_ok or m not in DENSE]
    mine = [_ad_side(problem, m, gd_maxiter) for m in AD_METHODS if dense_ok or m not in DENSE]
    return scipy[:1] + mine + scipy[1:]


def benchmarks(quick: bool) -> list[Benchmark]:
    chosen = problems.optimization_problems(quick)
    chosen, gd_maxiter = (chosen[:2], 200) if quick else (chosen, 2000)
    found = []
    for index, problem in enumerate(chosen):
        sides = _sides(problem, gd_maxiter)
        ratios = ()
        if index == 0:  # Rosenbrock: issue 5's comparison
            sides += _fed_newton_cg(problem, quick)
            ratios = (Ratio("ad.optim.minimize newton-cg", BASELINE, 1.5, metric="nit",
                            source="issue 5"),
                      Ratio("ad.optim.minimize newton-cg", BASELINE, 4.0, source="issue 5"))
        found.append(Benchmark(
            f"minimize {problem.name}", "5",
            f"one minimisation of {problem.name} from the standard start", BASELINE,
            tuple(sides), ratios=ratios,
        ))
    found.append(_issue12_newton_cg(quick))
    return found
