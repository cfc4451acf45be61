"""Shared test helpers: the Monte Carlo tolerance rule and paths to ../shared.

Statistical tolerance rule (one for the whole suite): an estimate passes when it lies
within ``Z_MCSE`` Monte Carlo standard errors of the truth, the standard error coming
from the ESS of the chains (ArviZ).  With ``Z_MCSE = 4`` a single comparison fails by
chance with probability 6.3e-5; the suite makes about 200 such comparisons on fixed
seeds, so its false-failure rate is about 1.3 % before the seeds are fixed (and then
it is deterministic), while a kernel that is off by a few percent of a standard
deviation fails, because the standard errors are well below that with the draws used.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

Z_MCSE = 4.0
ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
POSTERIORDB = SHARED / "reference" / "posteriordb"


def mcse_mean(draws: np.ndarray) -> np.ndarray:
    """MCSE of the mean of ``draws`` (chain, draw, *event) via ArviZ's bulk ESS."""
    import arviz as az

    return np.asarray(az.mcse(draws, method="mean"))


def assert_mean_within_mcse(draws, truth, *, z=Z_MCSE, what="mean"):
    """Assert ``|mean(draws) - truth| < z * MCSE`` elementwise; ``draws`` is (chain, draw, ...)."""
    draws = np.asarray(draws, dtype=float)
    est = draws.mean(axis=(0, 1))
    se = mcse_mean(draws)
    err = np.abs(est - np.asarray(truth))
    bad = err >= z * se
    assert not np.any(bad), (
        f"{what}: estimate {est[bad] if np.ndim(est) else est} vs truth "
        f"{np.asarray(truth)[bad] if np.ndim(truth) else truth}, |error|/MCSE = "
        f"{(err / se)[bad] if np.ndim(err) else err / se}"
    )
    return err / se


def posteriordb_available(name: str) -> bool:
    return (POSTERIORDB / name / "reference_summary.json").is_file()


def skip_without_posteriordb(name: str):
    return pytest.mark.skipif(
        not posteriordb_available(name),
        reason=f"reference posterior {name} not found under ../shared/reference/posteriordb "
        "(the shared folder beside the repository is absent)",
    )


def fd_grad(f, x, eps=1e-6):
    """Central finite-difference gradient of a scalar function of a float vector."""
    x = np.asarray(x, dtype=float)
    g = np.empty_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = eps * max(1.0, abs(x[i]))
        g[i] = (f(x + e) - f(x - e)) / (2 * e[i])
    return g


def check_gaussian_trace(trace, model, var="x"):
    """Means and variances of ``trace.posterior[var]`` within ``Z_MCSE`` MCSE of a Gaussian
    model's ``true_mean``/``true_cov`` (variance as the mean of ``(x - mu)^2``), R-hat < 1.01.
    Returns the draws."""
    import arviz as az

    x = trace.posterior[var].values
    assert_mean_within_mcse(x, model.true_mean, what="mean")
    sq = (x - model.true_mean) ** 2
    assert_mean_within_mcse(sq, np.diag(model.true_cov), what="variance")
    rhat = az.rhat(trace)[var].values
    assert np.all(rhat < 1.01), rhat
    return x
