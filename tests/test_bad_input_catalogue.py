"""The generated bad-input catalogue: every hyperparameter of every method, given wrong values.

For each field of each sampler method (NUTS, HMC, MALA, DIMS, MSIP, SHK) and each filter
(EnKF, ETKF, LETKF, particle, transport), the values a user can get wrong (a negative
number, NaN, a string for a number, an unknown name for a choice, a truthy non-bool for a
flag) must raise ``ValueError`` or ``TypeError`` with a message that names the argument,
before any kernel runs.  The hand-written cases of ``test_bad_input.py`` cover the CLI,
files, memory and the run-time checks; this module is the systematic sweep (issue 17).
"""

from __future__ import annotations

import dataclasses
import enum
import math

import numpy as np
import pytest

import geobayes
from geobayes.filters import api
from geobayes.samplers import get_method

#: values of a field that takes an explicit valid value which the sweep would mistake for a
#: bad one (a fixed KDE bandwidth of -1 is bad, but a number is a valid bandwidth)
VALID = {("shk", "bandwidth", 3)}


def _bad_values(default):
    if isinstance(default, bool):
        return ["yes", 2]
    if isinstance(default, enum.Enum):
        return ["nope", 3]
    if isinstance(default, str):
        return ["nope", 3]
    if default is None or isinstance(default, (int, float)):
        return [-1.0, math.nan, "abc"]
    return ["abc"]


def _sampler_cases():
    for name in ("nuts", "hmc", "mala", "dims", "msip", "shk"):
        method = get_method(name)
        for f in dataclasses.fields(method):
            for value in _bad_values(getattr(method, f.name)):
                if (name, f.name, value) not in VALID:
                    yield pytest.param(name, f.name, value, id=f"{name}-{f.name}={value!r}")


def _filter_cases():
    fronts = {
        "enkf": api.EnKF,
        "etkf": api.ETKF,
        "letkf": api.LETKF,
        "pf": api.ParticleFilter,
        "transport": api.TransportFilter,
    }
    for name, cls in fronts.items():
        for f in dataclasses.fields(cls):
            for value in _bad_values(f.default):
                yield pytest.param(name, f.name, value, id=f"{name}-{f.name}={value!r}")


def _raises_naming(call, name):
    with pytest.raises((ValueError, TypeError)) as info:
        call()
    message = str(info.value).splitlines()[0]
    assert name in message, message


@pytest.mark.parametrize("method, field, value", list(_sampler_cases()))
def test_sampler_hyperparameter(method, field, value):
    model = geobayes.models.get("gaussian", dim=2)
    family = get_method(method).family
    size = dict(n_particles=30, n_steps=2) if family == "particle" else dict(draws=5, warmup=5)
    size.pop(field, None)
    _raises_naming(
        lambda: geobayes.sample(
            model, method, chains=1, seed=0, progress=False, **size, **{field: value}
        ),
        field,
    )


@pytest.fixture(scope="module")
def lorenz96():
    ssm = geobayes.filters.models.get("lorenz96")
    _, y = ssm.simulate(5, seed=0)
    return ssm, y


@pytest.mark.parametrize("method, field, value", list(_filter_cases()))
def test_filter_hyperparameter(method, field, value, lorenz96):
    ssm, y = lorenz96
    _raises_naming(
        lambda: geobayes.filter(ssm, y, method=method, seed=0, progress=False, **{field: value}),
        field,
    )


def _gaussian():
    return geobayes.models.get("gaussian", dim=2)


_TINY = dict(draws=5, warmup=5, chains=1, progress=False)

#: (label, call, the name the message must contain); ``lorenz96`` is ``(ssm, y)``
MISC = [
    ("filter seed", lambda s, y: geobayes.filter(s, y, seed="abc"), "seed"),
    ("filter seed<0", lambda s, y: geobayes.filter(s, y, seed=-1), "seed"),
    ("filter store", lambda s, y: geobayes.filter(s, y, store="nope"), "store"),
    ("filter store int", lambda s, y: geobayes.filter(s, y, store=3), "store"),
    ("filter progress", lambda s, y: geobayes.filter(s, y, progress="yes"), "progress"),
    ("filter burn_in<0", lambda s, y: geobayes.filter(s, y, burn_in=-1), "burn_in"),
    ("filter burn_in>=K", lambda s, y: geobayes.filter(s, y, burn_in=100), "burn_in"),
    ("filter burn_in str", lambda s, y: geobayes.filter(s, y, burn_in="a"), "burn_in"),
    ("filter chunk_size 0", lambda s, y: geobayes.filter(s, y, chunk_size=0), "chunk_size"),
    ("filter chunk_size str", lambda s, y: geobayes.filter(s, y, chunk_size="a"), "chunk_size"),
    ("filter threads 0", lambda s, y: geobayes.filter(s, y, threads=0), "threads"),
    ("filter threads str", lambda s, y: geobayes.filter(s, y, threads="a"), "threads"),
    ("filter truth shape", lambda s, y: geobayes.filter(s, y, truth=np.zeros((3, 3))), "truth"),
    ("filter truth str", lambda s, y: geobayes.filter(s, y, truth="x"), "truth"),
    ("filter y columns", lambda s, y: geobayes.filter(s, y[:, :3]), "observations"),
    ("filter y 1-D", lambda s, y: geobayes.filter(s, y[0]), "observations"),
    ("filter y inf", lambda s, y: geobayes.filter(s, np.full_like(y, np.inf)), "observations"),
    ("filter y str", lambda s, y: geobayes.filter(s, "abc"), "observations"),
    ("filter y empty", lambda s, y: geobayes.filter(s, np.zeros((0, y.shape[1]))), "observations"),
    ("filter ssm name", lambda s, y: geobayes.filter("nosuch", y), "nosuch"),
    ("filter ssm int", lambda s, y: geobayes.filter(3, y), "ssm"),
    ("filter method", lambda s, y: geobayes.filter(s, y, method="nope"), "nope"),
    ("filter unknown kw", lambda s, y: geobayes.filter(s, y, method="etkf", foo=1), "foo"),
    (
        "filter ensemble 1e9",
        lambda s, y: geobayes.filter(s, y, method="etkf", ensemble_size=10**9),
        "ensemble_size",
    ),
    ("model name", lambda s, y: geobayes.models.get("nosuch"), "nosuch"),
    ("model dim<0", lambda s, y: geobayes.models.get("gaussian", dim=-1), "dim"),
    ("model dim str", lambda s, y: geobayes.models.get("gaussian", dim="abc"), "dim"),
    ("sample model int", lambda s, y: geobayes.sample(3), "model"),
    (
        "sample initial_points shape",
        lambda s, y: geobayes.sample(_gaussian(), "hmc", initial_points=np.zeros(5), **_TINY),
        "initial_points",
    ),
    (
        "sample initial_points nan",
        lambda s, y: geobayes.sample(
            _gaussian(), "hmc", initial_points=np.full(2, np.nan), **_TINY
        ),
        "initial_points",
    ),
    (
        "sample initial_points str",
        lambda s, y: geobayes.sample(_gaussian(), "hmc", initial_points="a", **_TINY),
        "initial_points",
    ),
    ("sample cores 0", lambda s, y: geobayes.sample(_gaussian(), cores=0, **_TINY), "cores"),
    ("sample cores str", lambda s, y: geobayes.sample(_gaussian(), cores="a", **_TINY), "cores"),
    (
        "sample chains 1e9",
        lambda s, y: geobayes.sample(_gaussian(), chains=10**9, draws=1, warmup=0),
        "chains",
    ),
    ("sample draws 1e15", lambda s, y: geobayes.sample(_gaussian(), draws=10**15), "draws"),
    (
        "msip n_particles 1e9",
        lambda s, y: geobayes.sample(_gaussian(), "msip", n_particles=10**9),
        "n_particles",
    ),
    (
        "shk n_particles 1e9",
        lambda s, y: geobayes.sample(_gaussian(), "shk", n_particles=10**9),
        "n_particles",
    ),
    ("sample unknown kw", lambda s, y: geobayes.sample(_gaussian(), "hmc", foo=1), "foo"),
    ("msip draws", lambda s, y: geobayes.sample(_gaussian(), "msip", draws=5), "draws"),
    (
        "sample log_likelihood",
        lambda s, y: geobayes.sample(_gaussian(), log_likelihood="abc", **_TINY),
        "log_likelihood",
    ),
    (
        "sample save_warmup",
        lambda s, y: geobayes.sample(_gaussian(), save_warmup="abc", **_TINY),
        "save_warmup",
    ),
    (
        "sample progress",
        lambda s, y: geobayes.sample(_gaussian(), **{**_TINY, "progress": "abc"}),
        "progress",
    ),
    ("summary of an int", lambda s, y: geobayes.summary(3), "summary"),
]


@pytest.mark.parametrize("label, call, name", MISC, ids=[m[0] for m in MISC])
def test_api_bad_input(label, call, name, lorenz96):
    _raises_naming(lambda: call(*lorenz96), name)


def test_catalogue_size():
    """The sweep is as large as the issue's survey (about 150 inputs) and then some."""
    n = len(list(_sampler_cases())) + len(list(_filter_cases())) + len(MISC)
    assert n >= 300, n
