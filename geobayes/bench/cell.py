"""One grid cell: a pure function of (model, method, seed, budget, chains, hyperparameters).

:func:`run_cell` builds the target, finds the run size that meets the budget with a
pilot call, makes the measured call and computes the metrics; it returns one flat,
JSON-ready record and never raises (a failure is a record with ``status = "error"``).

Timing (the same for every library): imports, model and reference building, the
pilot and the metrics are outside the timed call.  The first call in the process is
the *cold* call (Numba disk cache loads, JAX traces and compiles); ``compile_s`` is
its wall time minus that of a second, warm call of the same size.  ``wall_s`` is the
measured call (warm); ``cell_s`` the whole cell, so ``cell_s - wall_s`` is the
harness's overhead (setup, pilot, metrics).

Budgets: ``Budget("wall", 5.0)`` (seconds of the measured call) or
``Budget("grad", 20000)`` (gradient evaluations of the measured call over all chains,
warmup included; for gradient-free peers, log-density evaluations).  The pilot
measures the cost of ``size = pilot_size`` and the measured call uses ``size`` scaled
so its cost meets the budget (cost is close to linear in size); when that call misses
the budget by more than 30 % it is repeated once at the corrected size.  With a gradient budget
every cell is deterministic: the same seed gives the same record (timings aside).
"""

from __future__ import annotations

import math
import re
import time
import traceback
from dataclasses import asdict, dataclass

__all__ = ["Budget", "parse_budget", "CellSpec", "run_cell", "cell_key", "error_record"]


@dataclass(frozen=True)
class Budget:
    """``kind`` ``"wall"`` (seconds) or ``"grad"`` (gradient evaluations), ``value`` > 0."""

    kind: str
    value: float

    def __post_init__(self):
        if self.kind not in ("wall", "grad"):
            raise ValueError(f"budget kind must be 'wall' or 'grad', got {self.kind!r}")
        if not (isinstance(self.value, (int, float)) and math.isfinite(self.value)):
            raise ValueError(f"budget must be a finite number, got {self.value!r}")
        if self.value <= 0:
            raise ValueError(
                f"budget must be positive, got {self.value:g}; "
                "e.g. --budget 5s or --budget 20000grad"
            )

    def __str__(self) -> str:
        return f"{self.value:g}s" if self.kind == "wall" else f"{int(self.value)}grad"


_BUDGET_RE = re.compile(r"^\s*([0-9.eE+-]+)\s*(s|sec|seconds?|g|grads?|gradients?)\s*$")


def parse_budget(text) -> Budget:
    """``"5s"`` -> wall seconds, ``"20000grad"`` (or ``"20000g"``) -> gradient evaluations.

    Examples
    --------
    >>> parse_budget("2.5s"), parse_budget("1e4grad")
    (Budget(kind='wall', value=2.5), Budget(kind='grad', value=10000.0))
    """
    if isinstance(text, Budget):
        return text
    m = _BUDGET_RE.match(str(text))
    if not m:
        raise ValueError(
            f"budget must be seconds like '5s' or gradient evaluations like '20000grad', "
            f"got {text!r}"
        )
    try:
        value = float(m.group(1))
    except ValueError:
        raise ValueError(f"budget {text!r}: {m.group(1)!r} is not a number") from None
    return Budget("wall" if m.group(2).startswith("s") else "grad", value)


@dataclass(frozen=True)
class CellSpec:
    """Everything a cell depends on (picklable, JSON-able)."""

    model: str
    method: str
    seed: int
    budget: Budget
    chains: int = 4
    hyper: tuple = ()  # sorted (key, value) pairs
    reference_dir: str | None = None

    def key(self) -> str:
        return cell_key(self.model, self.method, self.seed, self.budget, self.chains, self.hyper)


def cell_key(model, method, seed, budget, chains, hyper) -> str:
    """The identity of a cell in the results file (resume matches on it)."""
    h = ",".join(f"{k}={v!r}" for k, v in hyper)
    return f"{model}|{method}|{seed}|{budget}|{chains}|{h}"


def _cost(out, budget):
    if budget.kind == "wall":
        return out.wall_s
    return out.n_grad if out.n_grad is not None else out.extra.get("n_logp")


def _header(spec: CellSpec) -> dict:
    return {
        "key": spec.key(),
        "model": spec.model,
        "method": spec.method,
        "seed": int(spec.seed),
        "budget": str(spec.budget),
        "budget_kind": spec.budget.kind,
        "budget_value": spec.budget.value,
        "chains": int(spec.chains),
        "hyper": dict(spec.hyper),
    }


def error_record(spec: CellSpec, message: str) -> dict:
    """The record of a cell that failed outside :func:`run_cell` (e.g. its worker died)."""
    return _header(spec) | {"status": "error", "error": message}


def run_cell(spec: CellSpec) -> dict:
    """Run one cell; returns its record (``status`` ``"ok"`` or ``"error"``)."""
    t_cell = time.perf_counter()
    rec = _header(spec)
    try:
        from geobayes.bench.methods import get_runner
        from geobayes.bench.metrics import run_metrics
        from geobayes.bench.targets import get_target

        t = time.perf_counter()
        target = get_target(spec.model, spec.reference_dir)
        runner = get_runner(spec.method)
        rec["setup_s"] = time.perf_counter() - t
        hyper = dict(spec.hyper)
        s0 = runner.pilot_size
        t = time.perf_counter()
        cold = runner(target, s0, spec.seed, spec.chains, hyper)
        warm = runner(target, s0, spec.seed, spec.chains, hyper)
        rec["pilot_s"] = time.perf_counter() - t
        rec["compile_s"] = max(cold.wall_s - warm.wall_s, 0.0)
        rec["cold_call_s"] = cold.wall_s
        c0 = _cost(warm, spec.budget)
        if not c0 or c0 <= 0:
            raise ValueError(
                f"method {spec.method!r} reports no "
                + ("gradient evaluations" if spec.budget.kind == "grad" else "time")
                + "; use a wall-time budget"
            )
        size = int(s0 * spec.budget.value / c0)
        size = min(max(size, runner.min_size), runner.max_size)
        if getattr(runner, "recompiles_on_size", False) and size != s0:
            # JAX compiles again for a new number of iterations: call twice, keep the warm one
            t = time.perf_counter()
            first = runner(target, size, spec.seed, spec.chains, hyper)
            rec["pilot_s"] += time.perf_counter() - t
        else:
            first = None
        out = runner(target, size, spec.seed, spec.chains, hyper)
        if first is not None:
            rec["compile_s"] += max(first.wall_s - out.wall_s, 0.0)
        # one refinement when the pilot's extrapolation missed the budget by > 30 %
        # (short pilots adapt differently and carry fixed costs): the missed call becomes
        # the pilot and the measured call is made again at the corrected size
        cost = _cost(out, spec.budget)
        if cost and not 0.7 <= cost / spec.budget.value <= 1.3:
            size2 = min(max(int(size * spec.budget.value / cost), runner.min_size), runner.max_size)
            if size2 != size:
                t = time.perf_counter()
                if getattr(runner, "recompiles_on_size", False):
                    runner(target, size2, spec.seed, spec.chains, hyper)
                out = runner(target, size2, spec.seed, spec.chains, hyper)
                rec["pilot_s"] += time.perf_counter() - t
                rec["refined_from_size"] = size
                size = size2
        rec.update(
            size=size,
            draws=out.draws,
            wall_s=out.wall_s,
            sampling_s=out.sampling_s,
            n_grad=out.n_grad,
            divergences=out.divergences,
            weighted=out.log_weight is not None or out.weights is not None,
            **out.extra,
        )
        t = time.perf_counter()
        x = target.columns_of(out.arrays, out.chains, out.draws)
        rec.update(
            run_metrics(
                x,
                target.reference,
                out.log_weight,
                weights=out.weights,
                wall_s=out.wall_s,
                n_grad=out.n_grad,
            )
        )
        rec["metrics_s"] = time.perf_counter() - t
        rec["status"] = "ok"
    except Exception as exc:  # noqa: BLE001 - a failed cell is a record, the grid goes on
        rec["status"] = "error"
        rec["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
        rec["traceback"] = traceback.format_exc()[-2000:]
    rec["cell_s"] = time.perf_counter() - t_cell
    return rec


def spec_dict(spec: CellSpec) -> dict:
    """JSON form of a spec."""
    d = asdict(spec)
    d["budget"] = str(spec.budget)
    return d
