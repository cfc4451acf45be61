"""Warmup adaptation: dual-averaging step size and windowed diagonal mass matrix (Stan's scheme).

Adaptation state lives in small float64 arrays owned by the driver, never inside a
sampler's State, so kernels stay pure and a run can resume from its arrays.
"""

from geobayes.adaptation.mass_matrix import warmup_schedule
from geobayes.adaptation.step_size import DualAveraging

__all__ = ["DualAveraging", "warmup_schedule"]
