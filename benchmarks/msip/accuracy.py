"""MSIP accuracy: MMD to reference draws against N, beside i.i.d. draws, MALA and SVGD.

Problems (2-D ones as in the papers; exact i.i.d. reference draws unless noted):
``mixture_2d`` (built-in, 0.7/0.3), ``mixture4`` (four modes, weights .1/.2/.3/.4),
``banana`` (hybrid Rosenbrock a=0.5, b=5), ``ring`` (radius 3, width 0.3; reference by
rejection from the radial law), ``funnel2`` (Neal's 2-D funnel, scale 3), and the posteriordb
posterior ``arK-arK`` (reference draws from ../shared, constrained scale).

Metric: MMD with the RBF kernel of length 1 on coordinates standardized by the reference
sd, against 2000 reference points (signed weights enter as they are).  Methods: MSIP
gradient-informed and gradient-free (defaults of spec §1.12, 300 iterations, initial
particles uniform on a box covering the target), ``iid`` (N exact draws, equal weights,
mean over 10 seeds), ``mala`` (one chain, 10 N draws after 500 warmup, thinned to N),
``svgd`` (benchmarks.msip.baselines, 500 iterations, same start as MSIP).

Second part, the issue's target on the correlated 2-D Gaussian at N = 50: weighted mean
error <= 1/10 and covariance (Frobenius) error <= 1/4 of those of 50 i.i.d. draws, averaged
over seeds.

Run: ``python -m benchmarks.msip.accuracy [--quick]``; writes ``benchmarks/msip/accuracy.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numba
import numpy as np

import geobayes
from benchmarks.msip.baselines import svgd
from geobayes.math.kernels import rbf_cross, rbf_gram
from geobayes.models.base import Model
from geobayes.models.gaussian import gaussian_from_moments
from geobayes.models.mixture import gaussian_mixture
from geobayes.models.shapes import banana, funnel

OUT = Path(__file__).with_name("accuracy.json")


@numba.njit(cache=True)
def _ring_lpg(theta, fdata, idata):
    r0, s = fdata[0], fdata[1]
    r = math.sqrt(theta[0] ** 2 + theta[1] ** 2) + 1e-300
    g = np.empty(2)
    c = -(r - r0) / (s * s) / r
    g[0] = c * theta[0]
    g[1] = c * theta[1]
    return -0.5 * (r - r0) ** 2 / (s * s), g


def _ring_ref(rng, m, r0=3.0, s=0.3):
    # radial density prop. to r exp(-(r - r0)^2 / (2 s^2)): rejection from N(r0, s) * r / rmax
    out = []
    while sum(len(o) for o in out) < m:
        r = rng.normal(r0, s, 4 * m)
        keep = (r > 0) & (rng.random(4 * m) < r / (r0 + 6 * s))
        out.append(r[keep])
    r = np.concatenate(out)[:m]
    phi = rng.uniform(0, 2 * np.pi, m)
    return np.column_stack([r * np.cos(phi), r * np.sin(phi)])


def _mixture_ref(model, rng, m):
    a, mu, cov = model.gaussian_mixture
    k = rng.choice(len(a), size=m, p=a)
    return np.array([rng.multivariate_normal(mu[j], cov[j]) for j in k])


def problems():
    """name -> (model, reference sampler rng, m -> (m, d), init box half-width, columns)."""
    mix2 = geobayes.models.get("mixture_2d")
    mix4 = gaussian_mixture(
        [0.1, 0.2, 0.3, 0.4], [[-5, -5], [5, -5], [-5, 5], [5, 5]], [0.6] * 4, name="mixture4"
    )
    ban = banana(a=0.5, b=5.0)
    ring = Model(
        _ring_lpg, {"x": (2,)}, data=(np.array([3.0, 0.3]), np.zeros(0, np.int64)), name="ring"
    )
    fun = funnel(dim=2, scale=3.0)

    def ban_ref(rng, m):
        x1 = rng.normal(1.0, math.sqrt(1 / (2 * 0.5)), m)
        return np.column_stack([x1, rng.normal(x1**2, math.sqrt(1 / (2 * 5.0)))])

    def fun_ref(rng, m):
        v = rng.normal(0, 3.0, m)
        return np.column_stack([v, rng.normal(0, np.exp(v / 2))])

    out = {
        "mixture_2d": (mix2, lambda rng, m: _mixture_ref(mix2, rng, m), 4.0),
        "mixture4": (mix4, lambda rng, m: _mixture_ref(mix4, rng, m), 8.0),
        "banana": (ban, ban_ref, 4.0),
        "ring": (ring, _ring_ref, 4.0),
        "funnel2": (fun, fun_ref, 6.0),
    }
    try:
        from geobayes.models.reference import get_posterior

        post = get_posterior("arK-arK")
        if post.has_reference():
            ref = post.load_reference()
            draws = ref.draws.reshape(-1, ref.draws.shape[-1])

            def ark_ref(rng, m, draws=draws):
                return draws[rng.choice(len(draws), size=m, replace=False)]

            out["arK"] = (post.model(), ark_ref, 2.0, ref.names)
    except (ImportError, FileNotFoundError, ValueError) as exc:  # pragma: no cover
        print(f"posteriordb problem skipped: {exc}")
    return out


def _columns(trace, model, names):
    if names is None:
        return (
            trace.posterior["x"].values.reshape(trace.posterior["x"].shape[0], -1, model.dim)
            if "x" in trace.posterior and len(trace.posterior) == 1
            else np.concatenate(
                [
                    trace.posterior[v].values.reshape(*trace.posterior[v].shape[:2], -1)
                    for v in trace.posterior.data_vars
                ],
                axis=-1,
            )
        )
    from geobayes.models.reference import trace_columns

    return trace_columns(trace, names)


class Scorer:
    """MMD to a fixed standardized reference set (the reference-reference term cached)."""

    def __init__(self, ref):
        self.mean = ref.mean(0)
        self.sd = ref.std(0)
        self.ref = np.ascontiguousarray((ref - self.mean) / self.sd)
        m = len(ref)
        self.cc = rbf_gram(self.ref, 1.0).sum() / m**2

    def __call__(self, x, w=None):
        z = np.ascontiguousarray((np.asarray(x) - self.mean) / self.sd)
        w = np.full(len(z), 1 / len(z)) if w is None else np.asarray(w)
        quad = w @ rbf_gram(z, 1.0) @ w
        cross = w @ rbf_cross(z, self.ref, 1.0).mean(axis=1)
        return math.sqrt(max(quad - 2 * cross + self.cc, 0.0))


def run_problem(name, spec, sizes, n_steps=300, seed=0):
    model, ref_fn, box = spec[:3]
    names = spec[3] if len(spec) > 3 else None
    rng = np.random.default_rng(seed)
    score = Scorer(ref_fn(rng, 2000))
    rows = []
    for n in sizes:
        row = {"N": n}
        init = rng.uniform(-box, box, size=(n, model.dim))
        if names is not None:  # posterior: start around the reference (unconstrained)
            init = rng.uniform(-box, box, size=(n, model.dim)) * 0.5
        for est, key in (("gradient_informed", "msip_gi"), ("gradient_free", "msip_gf")):
            t0 = time.perf_counter()
            tr = geobayes.sample(
                model,
                method="msip",
                estimator=est,
                n_particles=n,
                n_steps=n_steps,
                seed=seed,
                progress=False,
                initial_points=init,
            )
            row[key] = score(_columns(tr, model, names)[0], tr.sample_stats["weight"].values[0])
            row[key + "_s"] = time.perf_counter() - t0
            row[key + "_neg"] = int((tr.sample_stats["weight"].values < 0).sum())
        row["iid"] = float(
            np.mean([score(ref_fn(np.random.default_rng(100 + s), n)) for s in range(10)])
        )
        tr = geobayes.sample(
            model, method="mala", chains=1, draws=10 * n, warmup=500, seed=seed, progress=False
        )
        row["mala"] = score(_columns(tr, model, names)[0][::10])
        t0 = time.perf_counter()
        xs = svgd(model, init, n_iter=500)
        if names is not None:
            from geobayes.models.reference import trace_columns  # noqa: F401

            cons = model.constrain(xs)
            tmp = geobayes.trace.weighted_trace(
                {k: v[None] for k, v in cons.items()}, np.zeros((1, n))
            )
            xs = _columns(tmp, model, names)[0]
        row["svgd"] = score(xs)
        row["svgd_s"] = time.perf_counter() - t0
        rows.append(row)
        print(
            name,
            {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()},
            flush=True,
        )
    return rows


def gaussian_target(seeds=10, n=50, n_steps=500, **kw):
    """Issue target: weighted moment errors of MSIP vs 50 iid draws, correlated 2-D Gaussian."""
    mu = np.array([1.0, -2.0])
    s = np.array([[2.0, 0.8], [0.8, 1.0]])
    model = gaussian_from_moments(mu, s)

    def errs(x, w):
        m = w @ x
        c = (x - m).T @ (w[:, None] * (x - m))
        return np.linalg.norm(m - mu), np.linalg.norm(c - s)

    rng = np.random.default_rng(0)
    iid = np.mean(
        [errs(rng.multivariate_normal(mu, s, n), np.full(n, 1 / n)) for _ in range(20000)], axis=0
    )
    tr = geobayes.sample(
        model,
        method="msip",
        n_particles=n,
        n_steps=n_steps,
        chains=seeds,
        seed=1,
        progress=False,
        initial_points=rng.normal(size=(seeds, n, 2)),
        **kw,
    )
    x = tr.posterior["x"].values
    w = tr.sample_stats["weight"].values
    ms = np.mean([errs(x[c], w[c]) for c in range(seeds)], axis=0)
    return {
        "settings": kw,
        "n_steps": n_steps,
        "msip_mean_err": ms[0],
        "msip_cov_err": ms[1],
        "iid_mean_err": iid[0],
        "iid_cov_err": iid[1],
        "ratio_mean": ms[0] / iid[0],
        "ratio_cov": ms[1] / iid[1],
        "target_mean": 0.1,
        "target_cov": 0.25,
    }


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    p.add_argument("--only", default=None)
    args = p.parse_args(argv)
    sizes = (10, 50, 200) if args.quick else (10, 20, 50, 100, 200, 500)
    import os

    res = {"load": os.getloadavg(), "problems": {}, "gaussian_target": []}
    for kw in (
        {},
        {"bandwidth": 0.6},
        {"bandwidth": 0.6, "n_steps": 1000},
        {"bandwidth": 0.4, "n_steps": 1000},
    ):
        kw = dict(kw)
        steps = kw.pop("n_steps", 500)
        r = gaussian_target(n_steps=steps, **kw)
        print(
            "gaussian target",
            {k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()},
            flush=True,
        )
        res["gaussian_target"].append(r)
    for name, spec in problems().items():
        if args.only and name != args.only:
            continue
        res["problems"][name] = run_problem(name, spec, sizes)
    OUT.write_text(json.dumps(res, indent=1, default=float))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
