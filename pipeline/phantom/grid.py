"""A regular sampling grid in body coordinates, and the sub-block of it that a shape can touch.

Every painter evaluates its shape only on the block of grid indices that its bounding box covers, with
coordinates built by broadcasting three 1-D ramps (no (N, 3) point arrays), which keeps the anatomy cost
proportional to the structures' size rather than to the field of view.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

Block = tuple[slice, slice, slice]


@dataclass(frozen=True)
class Grid:
    """Points ``origin + k * steps[0] + j * steps[1] + i * steps[2]`` for ``(k, j, i)`` in ``shape``."""

    origin: NDArray[np.float64]
    steps: NDArray[np.float64]
    """Rows are the displacement (mm, body coordinates) of one index step along k, j, i."""
    shape: tuple[int, int, int]

    @cached_property
    def bounds(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Axis-aligned body-space box around all grid points (for a quick rejection test)."""
        last = np.asarray(self.shape, dtype=np.float64) - 1
        corners = np.array([[a, b, c] for a in (0, last[0]) for b in (0, last[1]) for c in (0, last[2])])
        points = self.origin + corners @ self.steps
        return points.min(axis=0), points.max(axis=0)

    def block(self, lo: NDArray[np.floating], hi: NDArray[np.floating]) -> Block | None:
        """Index block covering the axis-aligned box ``lo..hi`` (body mm), or None when disjoint."""
        grid_lo, grid_hi = self.bounds
        if np.any(np.asarray(hi) < grid_lo) or np.any(np.asarray(lo) > grid_hi):
            return None
        corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
        index = np.linalg.solve(self.steps.T, (corners - self.origin).T).T
        first = np.floor(index.min(axis=0)).astype(int)
        last = np.ceil(index.max(axis=0)).astype(int) + 1
        slices = []
        for a in range(3):
            start, stop = max(first[a], 0), min(last[a], self.shape[a])
            if start >= stop:
                return None
            slices.append(slice(start, stop))
        return slices[0], slices[1], slices[2]

    def local(
        self, block: Block, centre: NDArray[np.floating], frame: NDArray[np.floating]
    ) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]:
        """Coordinates of the block's points in a local frame (columns of ``frame`` are its unit axes).

        Returns three broadcastable float32 arrays, each of the block's shape in effect.
        """
        base = frame.T @ (self.origin - centre)
        per_step = self.steps @ frame  # per_step[a, c]: change of local coordinate c per index step a
        ranges = [np.arange(s.start, s.stop, dtype=np.float64) for s in block]
        out = []
        for c in range(3):
            value = (
                base[c]
                + (ranges[0] * per_step[0, c])[:, None, None]
                + (ranges[1] * per_step[1, c])[None, :, None]
                + (ranges[2] * per_step[2, c])[None, None, :]
            )
            out.append(value.astype(np.float32))
        return out[0], out[1], out[2]

    def points(self, block: Block) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]:
        """Body coordinates x, y, z of the block's points."""
        return self.local(block, np.zeros(3), np.eye(3))

    def full(self) -> Block:
        return slice(0, self.shape[0]), slice(0, self.shape[1]), slice(0, self.shape[2])

    @staticmethod
    def line(start: NDArray[np.floating], direction: NDArray[np.floating], length: float, step: float) -> Grid:
        """A 1-D grid (shape (1, 1, n)) along a line, for measuring the truth on the model itself."""
        n = int(np.ceil(length / step)) + 1
        unit = np.asarray(direction, dtype=np.float64)
        unit = unit / np.linalg.norm(unit)
        steps = np.array([[1.0, 0, 0], [0, 1.0, 0], unit * step])
        steps[0] = np.cross(unit, [0.0, 0.0, 1.0]) if abs(unit[2]) < 0.9 else np.cross(unit, [1.0, 0, 0])
        steps[1] = np.cross(unit, steps[0])
        return Grid(np.asarray(start, dtype=np.float64), steps, (1, 1, n))

    @staticmethod
    def plane(
        origin: NDArray[np.floating],
        axis_j: NDArray[np.floating],
        axis_i: NDArray[np.floating],
        nj: int,
        ni: int,
        step: float,
    ) -> Grid:
        """A 2-D grid (shape (1, nj, ni)) on a plane, for area-type truth measurements."""
        j = np.asarray(axis_j, dtype=np.float64)
        i = np.asarray(axis_i, dtype=np.float64)
        normal = np.cross(j, i)
        steps = np.array([normal, j * step, i * step])
        return Grid(np.asarray(origin, dtype=np.float64), steps, (1, nj, ni))
