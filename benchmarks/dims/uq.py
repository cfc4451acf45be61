"""Uncertainty quantification with DIMS on small networks, against the usual baselines.

The paper's own experiment could not be read (only its abstract and the authors' README:
a Snelson example compared with Laplace, linearized Laplace and Riemannian Laplace).  This
follows spec section 3.8 at a size two shared cores handle.  Three tasks:

* ``toy1d``: 1-D regression with a gap, ``y = sin(3x) + 0.3 x + N(0, 0.1^2)``: 40 training
  points on ``[-2, -0.5] U [0.5, 2]``; test points in the same region (``in``) and in the
  gap ``(-0.5, 0.5)`` plus the margins ``[-2.5, -2] U [2, 2.5]`` (``out``).  1-16-1 network,
  Gaussian likelihood with the true noise ``sigma = 0.1``.
* ``moons``: two-moons classification (noise 0.2, made here with numpy), 100 training
  points, 1000 test points; 2-16-1 network, logistic (Bernoulli) likelihood.
* ``diabetes``: scikit-learn's diabetes data (442 x 10, standardized with training
  statistics), 200 training points, 242 test points; 10-8-1 network, Gaussian likelihood
  with ``sigma`` = residual standard deviation of a least-squares linear fit on the
  training set.

Every method uses the same network and the same objective, the negative log posterior
``L(theta) = NLL(theta) + alpha |theta|^2 / 2`` (weight decay ``alpha = 1``, a standard
normal prior on every weight).  Methods:

* ``map``: one L-BFGS minimizer (the point estimate every other method starts from or is
  built on);
* ``dims``: DIMS on ``L`` from the MAP, 4 chains x 8 kicks (32 networks), each draw a
  minimum of ``L`` reached after a kick of kinetic energy ``K0`` (default ``2 dim``: the ball
  can climb ``2 dim`` loss units, four times the typical posterior excess ``dim/2``),
  friction 0.2, gravity 1, ``max_time = 600``.  With weight decay the minima of ``L`` are
  isolated, so DIMS samples *distinct local minima* (``n_minima`` counts distinct losses);
  a smaller ``K0`` or larger friction brings nearly every draw back to the MAP basin;
* ``ensemble``: deep ensemble, 10 L-BFGS minimizers of ``L`` from random (Glorot)
  initializations;
* ``laplace``: Laplace approximation at the MAP with the generalized Gauss-Newton
  precision ``J^T Lambda J + alpha I`` (``Lambda = 1/sigma^2`` or ``p(1-p)``), 100 sampled
  networks evaluated non-linearly;
* ``lin_laplace``: the same Gaussian pushed through the network linearized at the MAP
  (closed-form Gaussian predictive for regression, 400 logit samples for classification);
* ``nuts``: our NUTS on the same posterior, 2 chains x 150 draws after 150 warmup (short:
  the toy posterior with ``sigma = 0.1`` is stiff and costs long trees), thinned to 100
  networks.

Metrics on the test set: mean log predictive density (``test_ll``; regression predictive is
the mixture of ``N(f_m(x), sigma^2)`` over the networks), RMSE of the predictive mean or
accuracy of the averaged probabilities, calibration error (regression: mean absolute gap
between nominal and empirical coverage of central intervals at 10 %, 20 %, ..., 90 %;
classification: expected calibration error, 10 equal-width confidence bins), and the
training objective of the sampled networks relative to the MAP (``dL_mean``, ``dL_max``:
DIMS draws sit at minima, so near 0; Laplace and NUTS draws spread to ``~dim/2``).
Seconds are wall time of each method (MAP time included where the method starts from it;
DIMS and NUTS run their chains on 2 threads).

Run: ``python -m benchmarks.dims.uq`` (``diabetes`` needs scikit-learn, the ``bench``
extra; the toys run without it).  ``--quick`` is a small smoke run.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
from scipy.special import logsumexp
from scipy.stats import norm

import geobayes
from geobayes.models.mlp import mlp_classification, mlp_regression
from geobayes.samplers.dims import DIMS, converged, minimize_loss

LEVELS = np.linspace(0.1, 0.9, 9)
ALPHA = 1.0


# -- data -----------------------------------------------------------------------------------
def toy1d(seed):
    rng = np.random.default_rng(seed)

    def f(x):
        return np.sin(3 * x) + 0.3 * x

    def sides(lo, hi, n):
        return rng.uniform(lo, hi, n) * rng.choice([-1.0, 1.0], n)

    xtr = sides(0.5, 2.0, 40)
    x_in = sides(0.5, 2.0, 200)
    x_out = np.concatenate([rng.uniform(-0.5, 0.5, 100), sides(2.0, 2.5, 100)])
    data = {}
    for k, x in (("train", xtr), ("test", x_in), ("test_out", x_out)):
        data[k] = (x[:, None], (f(x) + 0.1 * rng.normal(size=x.size))[:, None])
    return {"kind": "regression", "data": data, "hidden": (16,), "sigma": 0.1}


def moons(seed, n_train=100, n_test=1000, noise=0.2):
    rng = np.random.default_rng(seed)

    def draw(n):
        lab = rng.integers(0, 2, n)
        t = rng.uniform(0, np.pi, n)
        x = np.where(
            lab[:, None] == 0, np.c_[np.cos(t), np.sin(t)], np.c_[1 - np.cos(t), 0.5 - np.sin(t)]
        )
        return x + noise * rng.normal(size=(n, 2)) - np.array([0.5, 0.25]), lab

    return {
        "kind": "classification",
        "data": {"train": draw(n_train), "test": draw(n_test)},
        "hidden": (16,),
    }


def diabetes(seed, n_train=200):
    from sklearn.datasets import load_diabetes

    x, y = load_diabetes(return_X_y=True)
    idx = np.random.default_rng(seed).permutation(len(y))
    tr, te = idx[:n_train], idx[n_train:]
    mx, sx, my, sy = x[tr].mean(0), x[tr].std(0), y[tr].mean(), y[tr].std()
    x, y = (x - mx) / sx, ((y - my) / sy)[:, None]
    a = np.c_[x[tr], np.ones(n_train)]
    resid = y[tr] - a @ np.linalg.lstsq(a, y[tr], rcond=None)[0]
    sigma = float(np.sqrt(np.sum(resid**2) / (n_train - a.shape[1])))
    return {
        "kind": "regression",
        "data": {"train": (x[tr], y[tr]), "test": (x[te], y[te])},
        "hidden": (8,),
        "sigma": round(sigma, 3),
    }


TASKS = {"toy1d": toy1d, "moons": moons, "diabetes": diabetes}


# -- scores ---------------------------------------------------------------------------------
def regression_scores(preds, y, sigma, rng):
    """Scores of the predictive mixture of ``N(preds[m], sigma^2)``; preds ``(M, n, 1)``."""
    lp = norm.logpdf(y[None, :, 0], preds[:, :, 0], sigma)
    ll = float(np.mean(logsumexp(lp, axis=0) - np.log(preds.shape[0])))
    draws = preds[rng.integers(0, preds.shape[0], 2000), :, 0] + sigma * rng.normal(
        size=(2000, y.shape[0])
    )
    return {
        "test_ll": ll,
        "rmse": float(np.sqrt(np.mean((preds[:, :, 0].mean(0) - y[:, 0]) ** 2))),
        "cal_err": _coverage_error(draws, y[:, 0]),
    }


def _coverage_error(draws, y):
    err = []
    for p in LEVELS:
        lo, hi = np.quantile(draws, [(1 - p) / 2, (1 + p) / 2], axis=0)
        err.append(abs(np.mean((y >= lo) & (y <= hi)) - p))
    return float(np.mean(err))


def classification_scores(probs, labels):
    """Scores of the averaged class probabilities; probs ``(M, n, C)``."""
    p = probs.mean(0)
    conf, pred = p.max(1), p.argmax(1)
    correct = pred == labels
    bins = np.minimum((conf * 10).astype(int), 9)
    ece = sum(
        abs(correct[bins == b].mean() - conf[bins == b].mean()) * np.mean(bins == b)
        for b in range(10)
        if np.any(bins == b)
    )
    return {
        "test_ll": float(np.mean(np.log(np.maximum(p[np.arange(labels.size), labels], 1e-300)))),
        "acc": float(correct.mean()),
        "cal_err": float(ece),
    }


def network_scores(task, model, thetas, loss_map, rng):
    data = task["data"]
    out = {}
    if task["kind"] == "regression":
        out.update(
            regression_scores(
                model.predict(thetas, data["test"][0]), data["test"][1], task["sigma"], rng
            )
        )
        if "test_out" in data:
            o = regression_scores(
                model.predict(thetas, data["test_out"][0]), data["test_out"][1], task["sigma"], rng
            )
            out["test_ll_out"], out["cal_err_out"] = o["test_ll"], o["cal_err"]
    else:
        out.update(
            classification_scores(model.predict_proba(thetas, data["test"][0]), data["test"][1])
        )
    losses = np.array([model.loss_and_grad(np.ascontiguousarray(t))[0] for t in thetas])
    out["dL_mean"] = float(losses.mean() - loss_map)
    out["dL_max"] = float(losses.max() - loss_map)
    out["n_networks"] = int(thetas.shape[0])
    out["n_minima"] = int(np.unique(np.round(losses, 4)).size)
    return out


# -- Laplace (GGN at the MAP) ---------------------------------------------------------------
def jacobian(model, theta, x, eps=1e-6):
    """Central-difference Jacobian of the (single) network output, ``(m, dim)``."""
    jac = np.empty((x.shape[0], theta.size))
    for k in range(theta.size):
        tp, tm = theta.copy(), theta.copy()
        tp[k] += eps
        tm[k] -= eps
        jac[:, k] = (model.predict(tp, x)[0, :, 0] - model.predict(tm, x)[0, :, 0]) / (2 * eps)
    return jac


def laplace_rows(task, model, theta, loss_map, rng, n_samples=100):
    data = task["data"]
    t0 = time.perf_counter()
    jtr = jacobian(model, theta, data["train"][0])
    if task["kind"] == "regression":
        lam = np.full(jtr.shape[0], 1.0 / task["sigma"] ** 2)
    else:
        p = model.predict_proba(theta, data["train"][0])[0, :, 1]
        lam = p * (1 - p)
    prec = (jtr * lam[:, None]).T @ jtr + ALPHA * np.eye(theta.size)
    chol_prec = np.linalg.cholesky(prec)
    t_fit = time.perf_counter() - t0

    def sample(n):  # theta + L^{-T} z has covariance prec^{-1}
        z = rng.normal(size=(theta.size, n))
        return theta[None] + np.linalg.solve(chol_prec.T, z).T

    rows = []
    t0 = time.perf_counter()
    lap = network_scores(task, model, sample(n_samples), loss_map, rng)
    lap.update(method="laplace", seconds=t_fit + time.perf_counter() - t0)
    rows.append(lap)
    # linearized predictive
    t0 = time.perf_counter()
    lin = {
        "method": "lin_laplace",
        "dL_mean": float("nan"),
        "dL_max": float("nan"),
        "n_networks": 0,
    }
    for split in [s for s in ("test", "test_out") if s in data]:
        x, y = data[split]
        f0 = model.predict(theta, x)[0, :, 0]
        jx = jacobian(model, theta, x)
        v = np.linalg.solve(chol_prec, jx.T)  # var = diag(J prec^{-1} J^T) = |L^{-1} J^T|^2
        var_f = np.sum(v * v, axis=0)
        if task["kind"] == "regression":
            sd = np.sqrt(var_f + task["sigma"] ** 2)
            draws = f0[None] + sd[None] * rng.normal(size=(2000, f0.size))
            sc = {
                "test_ll": float(np.mean(norm.logpdf(y[:, 0], f0, sd))),
                "rmse": float(np.sqrt(np.mean((f0 - y[:, 0]) ** 2))),
                "cal_err": _coverage_error(draws, y[:, 0]),
            }
        else:
            z = f0[None] + np.sqrt(var_f)[None] * rng.normal(size=(400, f0.size))
            p1 = 0.5 * (1 + np.tanh(0.5 * z))
            sc = classification_scores(np.stack([1 - p1, p1], -1), y)
        if split == "test":
            lin.update(sc)
        else:
            lin["test_ll_out"], lin["cal_err_out"] = sc["test_ll"], sc["cal_err"]
    lin["seconds"] = t_fit + time.perf_counter() - t0
    rows.append(lin)
    return rows


# -- one task -------------------------------------------------------------------------------
def _flat(trace, model):
    post = trace["posterior"]
    c, d = post.sizes["chain"], post.sizes["draw"]
    return np.concatenate([np.asarray(post[k].values).reshape(c, d, -1) for k in model.params], -1)


def build_model(task):
    (xtr, ytr) = task["data"]["train"]
    if task["kind"] == "regression":
        return mlp_regression(
            xtr, ytr, task["hidden"], noise_std=task["sigma"], prior_precision=ALPHA
        )
    return mlp_classification(xtr, ytr, task["hidden"], prior_precision=ALPHA)


def run(name, task, seed, quick=False, kinetic_energy=None, friction=0.2):
    rng = np.random.default_rng(seed + 1000)
    model = build_model(task)
    rows = []
    t0 = time.perf_counter()
    theta_map = minimize_loss(model, model.initial_point(np.random.default_rng(seed)), gtol=1e-9)
    t_map = time.perf_counter() - t0
    loss_map = model.loss_and_grad(theta_map)[0]
    r = network_scores(task, model, theta_map[None], loss_map, rng)
    r.update(method="map", seconds=t_map)
    rows.append(r)
    # DIMS from the MAP
    n_chains, n_draws = (2, 3) if quick else (4, 8)
    k0 = 2.0 * model.dim if kinetic_energy is None else kinetic_energy
    t0 = time.perf_counter()
    with np.errstate(all="ignore"):
        trace = geobayes.sample(
            model,
            method=DIMS(friction=friction, kinetic_energy=k0, find_minimum=False, max_time=600.0),
            draws=n_draws,
            chains=n_chains,
            cores=2,
            seed=seed,
            progress=False,
            initial_points=theta_map,
        )
    t_dims = time.perf_counter() - t0 + t_map
    ok = converged(trace)
    r = network_scores(task, model, _flat(trace, model)[ok], loss_map, rng)
    r.update(
        method="dims",
        seconds=t_dims,
        hit_T_max=int((~ok).sum()),
        K0=k0,
        friction=friction,
        steps_per_draw=float(trace.sample_stats["n_integration_steps"].mean()),
    )
    rows.append(r)
    # deep ensemble
    n_members = 3 if quick else 10
    t0 = time.perf_counter()
    members = np.array(
        [
            minimize_loss(
                model, model.initial_point(np.random.default_rng(seed + 100 + k)), gtol=1e-9
            )
            for k in range(n_members)
        ]
    )
    r = network_scores(task, model, members, loss_map, rng)
    r.update(method="ensemble", seconds=time.perf_counter() - t0)
    rows.append(r)
    # Laplace
    for r in laplace_rows(task, model, theta_map, loss_map, rng, 30 if quick else 100):
        r["seconds"] += t_map
        rows.append(r)
    # NUTS on the same posterior
    nh = 60 if quick else 150
    t0 = time.perf_counter()
    with np.errstate(all="ignore"):
        tr = geobayes.sample(
            model,
            method="nuts",
            draws=nh,
            warmup=nh,
            chains=2,
            cores=2,
            seed=seed,
            progress=False,
            initial_points=theta_map,
        )
    t_nuts = time.perf_counter() - t0
    flat = _flat(tr, model).reshape(-1, model.dim)[:: max(1, 2 * nh // 100)]
    r = network_scores(task, model, flat, loss_map, rng)
    r.update(method="nuts", seconds=t_nuts, divergences=int(tr.sample_stats["diverging"].sum()))
    rows.append(r)
    for r in rows:
        r.update(
            task=name, seed=seed, n_train=int(task["data"]["train"][0].shape[0]), dim=int(model.dim)
        )
    return rows


COLUMNS = [
    "task",
    "seed",
    "method",
    "test_ll",
    "test_ll_out",
    "rmse",
    "acc",
    "cal_err",
    "cal_err_out",
    "dL_mean",
    "dL_max",
    "n_networks",
    "n_minima",
    "seconds",
]


def table(rows):
    cols = [c for c in COLUMNS if any(c in r for r in rows)]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for r in rows:
        cells = []
        for c in cols:
            v = r.get(c, "")
            cells.append(f"{v:.3g}" if isinstance(v, float) else str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny run (smoke test)")
    ap.add_argument("--tasks", default="toy1d,moons,diabetes")
    ap.add_argument("--seeds", default="0", help="comma-separated seeds")
    ap.add_argument("--kinetic-energy", type=float, default=None, help="DIMS K0 (default 2 dim)")
    ap.add_argument("--friction", type=float, default=0.2, help="DIMS friction")
    ap.add_argument("--out", default=None, help="write the rows as JSON")
    args = ap.parse_args(argv)
    print(f"load average at start: {os.getloadavg()}")
    rows = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        for name in args.tasks.split(","):
            task = TASKS[name](seed)
            rows.extend(run(name, task, seed, args.quick, args.kinetic_energy, args.friction))
            print(table([r for r in rows if r["task"] == name and r["seed"] == seed]), flush=True)
            d = next(r for r in rows[::-1] if r["method"] == "dims")
            n = next(r for r in rows[::-1] if r["method"] == "nuts")
            print(
                f"dims: K0={d['K0']:.4g} friction={d['friction']} hit_T_max={d['hit_T_max']} "
                f"integration steps/draw={d['steps_per_draw']:.0f}; nuts divergences="
                f"{n['divergences']}",
                flush=True,
            )
    print(f"load average at end: {os.getloadavg()}")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
