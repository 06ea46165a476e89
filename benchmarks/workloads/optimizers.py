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
"""

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
    return found
