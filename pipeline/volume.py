"""The one image type the pipeline accepts: a 3-D array with its patient-space geometry.

Why a type of our own and not a SimpleITK image or a NIfTI: the DICOM side builds it straight from the
headers (no intermediate file), the generator builds it from its scanner model, and the pipeline needs
nothing but numpy to use it. The convention is DICOM's, so no axis flip hides anywhere:

* ``array`` has shape ``(slices, rows, columns)``; ``array[k, j, i]`` is column ``i`` of row ``j`` of
  the ``k``-th slice in spatial order (the order of increasing position along ``direction[:, 0]``).
* ``direction[:, a]`` is the unit vector, in patient LPS coordinates, along array axis ``a``:
  ``direction[:, 0]`` is the slice normal, ``direction[:, 1]`` the column direction (down a column, as
  DICOM's second ImageOrientationPatient vector), ``direction[:, 2]`` the row direction (the first one).
* ``spacing[a]`` is the distance in mm between neighbours along axis ``a``.
* ``origin`` is the LPS position (mm) of the centre of voxel ``[0, 0, 0]``.

So the patient position of voxel ``(k, j, i)`` is ``origin + direction @ (spacing * (k, j, i))``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class Volume:
    """A 3-D image in patient coordinates (see the module docstring for the axis convention)."""

    array: NDArray[np.floating] | NDArray[np.integer]
    spacing: tuple[float, float, float]
    direction: NDArray[np.float64]
    origin: NDArray[np.float64]
    contrast: str | None = None
    """``"T2"``, ``"T1"``, ``"STIR"`` or None when the headers did not say."""
    metadata: dict[str, str] = field(default_factory=dict)
    """Free, non-identifying hints (series description, field strength) for QC messages."""

    def __post_init__(self) -> None:
        if self.array.ndim != 3:
            raise ValueError(f"a Volume needs a 3-D array, got shape {self.array.shape}")
        direction = np.asarray(self.direction, dtype=np.float64)
        if direction.shape != (3, 3):
            raise ValueError(f"direction must be 3x3, got {direction.shape}")
        if not np.allclose(direction.T @ direction, np.eye(3), atol=1e-3):
            raise ValueError("direction columns must be orthonormal (an oblique but orthogonal grid)")
        if any(s <= 0 for s in self.spacing):
            raise ValueError(f"spacing must be positive, got {self.spacing}")
        object.__setattr__(self, "direction", direction)
        object.__setattr__(self, "origin", np.asarray(self.origin, dtype=np.float64).reshape(3))
        object.__setattr__(self, "spacing", tuple(float(s) for s in self.spacing))

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.array.shape)  # type: ignore[return-value]

    @property
    def affine(self) -> NDArray[np.float64]:
        """4x4 matrix mapping homogeneous voxel indices ``(k, j, i, 1)`` to LPS millimetres."""
        affine = np.eye(4)
        affine[:3, :3] = self.direction * np.asarray(self.spacing)
        affine[:3, 3] = self.origin
        return affine

    def index_to_lps(self, index: NDArray[np.floating]) -> NDArray[np.float64]:
        """LPS positions of voxel indices; ``index`` has shape ``(..., 3)`` in ``(k, j, i)`` order."""
        index = np.asarray(index, dtype=np.float64)
        return index @ (self.direction * np.asarray(self.spacing)).T + self.origin

    def lps_to_index(self, points: NDArray[np.floating]) -> NDArray[np.float64]:
        """Continuous voxel indices ``(k, j, i)`` of LPS points; inverse of :meth:`index_to_lps`."""
        points = np.asarray(points, dtype=np.float64)
        return ((points - self.origin) @ self.direction) / np.asarray(self.spacing)

    def with_array(self, array: NDArray) -> Volume:
        """The same grid holding another array (a label map, a probability map)."""
        if array.shape != self.array.shape:
            raise ValueError(f"shape {array.shape} differs from the volume's {self.array.shape}")
        return Volume(array, self.spacing, self.direction, self.origin, self.contrast, dict(self.metadata))
