"""The jitted population runner shared by every particle method (MSIP, SHK).

Particle-family contract
------------------------
A particle method evolves a whole population of ``N`` particles in ``R^d`` and supplies
one *population step* of the first-class function type :data:`POP_STEP`::

    step(rng, x, w, aux, lpg, fdata, idata, params, stats) -> status (int64)

* ``rng`` -- the replicate's ``numpy.random.Generator``; the step draws what it needs
  (deterministic methods such as MSIP draw nothing).
* ``x`` -- float64 ``(N, d)``, C-contiguous, the particles; updated in place.
* ``w`` -- float64 ``(N,)``, the particle weights, updated in place.  They sum to one and
  **may be negative** (MSIP quadrature weights); equally weighted methods (SHK) leave
  ``1/N`` in it.  The trace stores them as ``sample_stats.weight`` (see
  :mod:`geobayes.trace`).
* ``aux`` -- float64 ``(n_aux,)``, the method's own persistent state between iterations
  (iteration counter, bandwidth, caches); its length and initial content come from the
  method object (:meth:`ParticleMethod.initial_aux`), the runner never reads it.
* ``lpg, fdata, idata`` -- the model, exactly as for the chain methods (type
  :data:`geobayes.types.LPG`).
* ``params`` -- float64 vector of the method's constants (hyperparameters, inner
  quadrature nodes, ...), built by :meth:`ParticleMethod.params_array` per replicate.
* ``stats`` -- float64 row the step writes for this iteration.  Fixed leading columns, the
  same for every particle method: ``0`` diverging (0/1), ``1`` n_evals (calls of ``lpg``
  this iteration); method-specific columns from :data:`N_FIXED_STATS` on, named by the
  method's ``extra_stat_names``.  The runner zeroes the row before each call.
* return value -- ``0`` for a normal iteration; a positive code is fatal: the runner stops
  and returns it, and the driver raises the method's message for it
  (:meth:`ParticleMethod.error_message`).

:func:`run_population` loops ``len(out_stats)`` iterations of one replicate, optionally
storing every iteration's particles and weights (``particle_history``).  Both the step
and the model enter as typed first-class functions, so this one compiled kernel (cached
on disk) serves every particle method and every model; it releases the GIL, so
replicates run in threads.  A replicate's result depends only on its generator and
inputs, so the same seed gives bit-identical output whatever the thread count or the
chunking of iterations.
"""

from __future__ import annotations

from numba import float64, int64, types

from geobayes._lazy import lazy_njit
from geobayes.types import GENERATOR, LPG

__all__ = ["POP_STEP", "POP_STEP_SIG", "run_population", "FIXED_STAT_NAMES", "N_FIXED_STATS"]

POP_STEP_SIG = int64(
    GENERATOR,
    float64[:, ::1],  # x (N, d), in/out
    float64[::1],  # w (N,), in/out
    float64[::1],  # aux: the method's persistent state, in/out
    LPG,
    float64[::1],  # fdata
    int64[::1],  # idata
    float64[::1],  # params
    float64[::1],  # stats row, out
)
#: First-class function type of a particle method's population step.
POP_STEP = types.FunctionType(POP_STEP_SIG)

#: Leading statistics columns every population step writes.
FIXED_STAT_NAMES = ("diverging", "n_evals")
N_FIXED_STATS = len(FIXED_STAT_NAMES)

_RUN_SIG = int64(
    GENERATOR,
    POP_STEP,
    LPG,
    float64[::1],  # fdata
    int64[::1],  # idata
    float64[:, ::1],  # x (in/out)
    float64[::1],  # w (in/out)
    float64[::1],  # aux (in/out)
    float64[::1],  # params
    float64[:, ::1],  # out stats (n, n_stats)
    float64[:, :, ::1],  # out particle history (n, N, d) or (0, N, d)
    float64[:, ::1],  # out weight history (n, N) or (0, N)
)


@lazy_njit(_RUN_SIG, cache=True, nogil=True)
def run_population(rng, step, lpg, fdata, idata, x, w, aux, params, out_s, out_x, out_w):
    """Run ``out_s.shape[0]`` population steps of one replicate; returns 0 or a fatal code.

    ``x``, ``w`` and ``aux`` hold the replicate's state on entry and after each step, so
    the next chunk continues from them.  When ``out_x`` has rows, iteration ``i``'s
    particles and weights are stored in ``out_x[i]`` and ``out_w[i]``.
    """
    n = out_s.shape[0]
    keep = out_x.shape[0] > 0
    for i in range(n):
        row = out_s[i]
        row[:] = 0.0
        status = step(rng, x, w, aux, lpg, fdata, idata, params, row)
        if keep:
            out_x[i] = x
            out_w[i] = w
        if status != 0:
            return status
    return 0
