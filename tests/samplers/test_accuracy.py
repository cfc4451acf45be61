"""Sampler accuracy against known answers, with tolerances from Monte Carlo standard errors.

Every posterior mean and variance must lie within ``Z_MCSE`` (= 4) Monte Carlo standard
errors of the truth.  The variance is estimated as the mean of ``(x - mu)^2`` with the true
mean ``mu``, an unbiased estimator whose MCSE comes from the ESS of the squared deviations.
The draws are chosen so that the MCSEs are small: a step with a wrong acceptance ratio or
gradient sign moves the variance by far more than 4 MCSE (see test_broken_kernel_fails).
(A wrong *gradient* alone does not bias MALA or HMC: it only changes the proposal, which
the Metropolis step still corrects; gradients are checked by finite differences instead.)
"""

import json

import numpy as np
import pytest
from _stats import (
    POSTERIORDB,
    Z_MCSE,
    check_gaussian_trace,
    skip_without_posteriordb,
)

import geobayes
from geobayes.models import correlated_gaussian

pytestmark = pytest.mark.slow


_check_gaussian = check_gaussian_trace


@pytest.mark.parametrize(
    "method,draws",
    [("hmc", 2000), ("mala", 10000)],
)
def test_correlated_gaussian(method, draws):
    model = correlated_gaussian(dim=10, condition_number=20.0, seed=1)
    trace = geobayes.sample(
        model, method=method, draws=draws, warmup=1000, chains=4, seed=11, progress=False
    )
    x = _check_gaussian(trace, model)
    # the MCSE of the variance must be small enough to catch a broken kernel:
    # below 5 % of the smallest true variance
    import arviz as az

    sq = (x - model.true_mean) ** 2
    se = np.asarray(az.mcse(sq, method="mean"))
    assert np.all(se < 0.05 * np.diag(model.true_cov))


def _broken_mala_step():
    """MALA that forgets the proposal ratio q(x|y)/q(y|x): a typical bug, biased."""
    import math

    import numba

    from geobayes.samplers._chunk import STEP_SIG

    @numba.njit(STEP_SIG)
    def step(rng, x, lp, g, lpg, fdata, idata, step_size, metric, params, stats):
        z = rng.standard_normal(x.shape[0])
        u = rng.random()
        y = x + 0.5 * step_size**2 * metric**2 * g + step_size * metric * z
        lpy, gy = lpg(y, fdata, idata)
        log_ratio = lpy - lp
        stats[2] = min(1.0, math.exp(log_ratio))
        stats[3] = 1.0
        if math.log(u) < log_ratio:
            stats[6] = 1.0
            return y, lpy, gy
        return x, lp, g

    return step


def test_broken_kernel_fails():
    """The tolerances above are tight enough to catch a MALA without its proposal correction."""
    from dataclasses import dataclass

    from geobayes.samplers import MALA

    broken_step = _broken_mala_step()

    @dataclass(frozen=True)
    class BrokenMALA(MALA):
        @property
        def step_fn(self):
            return broken_step

    model = correlated_gaussian(dim=10, condition_number=20.0, seed=1)
    trace = geobayes.sample(
        model, method=BrokenMALA(), draws=10000, warmup=1000, chains=4, seed=11, progress=False
    )
    with pytest.raises(AssertionError):
        _check_gaussian(trace, model)


@skip_without_posteriordb("eight_schools-eight_schools_noncentered")
def test_eight_schools_against_posteriordb():
    name = "eight_schools-eight_schools_noncentered"
    with open(POSTERIORDB / name / "reference_summary.json") as f:
        ref = json.load(f)["statistics"]
    trace = geobayes.sample(
        "eight_schools", method="hmc", draws=5000, warmup=1000, chains=4, seed=5, progress=False
    )
    post = trace.posterior
    cols = {"mu": post["mu"].values, "tau": post["tau"].values}
    for j in range(8):
        cols[f"theta[{j + 1}]"] = post["theta"].values[..., j]
    import arviz as az

    for col, draws in cols.items():
        r = ref[col]
        mean_se = float(az.mcse(draws, method="mean"))
        sd_se = float(az.mcse(draws, method="sd"))
        # the reference's own MCSE adds in quadrature
        assert abs(draws.mean() - r["mean"]) < Z_MCSE * np.hypot(mean_se, r["mcse_mean"]), col
        assert abs(draws.std(ddof=1) - r["sd"]) < Z_MCSE * np.hypot(sd_se, r["mcse_sd"]), col
    assert float(post["mu"].mean()) == pytest.approx(4.41, abs=0.3)
    assert float(post["tau"].mean()) == pytest.approx(3.60, abs=0.3)
