"""Fixtures of the filter tests.

False-failure budget: the statistical checks below run on fixed seeds, so they
are deterministic; the tolerances were chosen from Monte Carlo error so that a
fresh seed would fail with probability below about 1e-3 per check (stated next
to each check), while a wrong kernel (bias of a few percent of a posterior
standard deviation, or a missing factor) fails.
"""

from __future__ import annotations

import pytest

from geobayes.filters import models


@pytest.fixture(scope="session")
def lg_model():
    """The linear-Gaussian model of filters spec §8.1."""
    return models.linear_gaussian()


@pytest.fixture(scope="session")
def lg_data(lg_model):
    """50 steps of truth and observations of the §8.1 model."""
    return lg_model.simulate(50, seed=2024)


@pytest.fixture(scope="session")
def kalman_tree(lg_model, lg_data):
    from geobayes.filters import filter

    x, y = lg_data
    return filter(lg_model, y, "kalman", truth=x)
