"""Reading a quantity at the spine's midline from the thick sagittal slices around it.

The canal's AP diameter and a herniation's depth are largest in the midline and fall off to the sides;
the nearest slice may lie 2 mm off it. Measuring on the three slices around the midline and fitting a
parabola through them recovers the midline value (exact for the elliptic cross-section of a dural sac
when the square of the diameter is fitted), and falls back to linear interpolation when the three do
not look like a single peak.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def midline_value(
    positions: NDArray[np.float64] | list[float],
    values: NDArray[np.float64] | list[float],
    target: float,
    squared: bool = False,
) -> float:
    """Value at ``target`` from samples at ``positions`` (same unit; slice indices will do)."""
    x = np.asarray(positions, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        raise ValueError("no samples to interpolate")
    order = np.argsort(np.abs(x - target))
    if x.size == 1:
        return float(y[0])
    near = order[: min(3, x.size)]
    xs, ys = x[near], y[near]
    transform = (lambda a: np.square(a)) if squared else (lambda a: a)
    inverse = (lambda a: float(np.sqrt(max(a, 0.0)))) if squared else float
    if xs.size == 3 and np.ptp(xs) > 0 and np.all(ys > 0):
        coeffs = np.polyfit(xs - target, transform(ys), 2)
        estimate = inverse(coeffs[2])
        peak_ok = coeffs[0] < 0 and 0.97 * ys.max() <= estimate <= ys.max() * 1.15 + 0.3
        inside = xs.min() <= target <= xs.max()
        if peak_ok and inside:
            return estimate
    return _linear(x, y, target)


def _linear(x: NDArray[np.float64], y: NDArray[np.float64], target: float) -> float:
    order = np.argsort(x)
    x, y = x[order], y[order]
    if target <= x[0]:
        return float(y[0])
    if target >= x[-1]:
        return float(y[-1])
    return float(np.interp(target, x, y))
