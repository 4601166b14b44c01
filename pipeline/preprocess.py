"""Stage 1: bring any sagittal :class:`~pipeline.volume.Volume` onto the model's working grid and back.

Why a canonical grid: the network is a 2-D model on sagittal slices, trained once. Scanners write
sagittal series in several conventions (rows running anterior->posterior or the reverse, slices
ordered left->right or right->left, a few degrees of obliquity), and the model must see every one of
them the same way. The mapping is split in two so that the inverse is exact:

1. a pure axis permutation + flip (:class:`Canonicaliser`), which moves no voxel value and so is
   undone exactly; after it, axis 0 runs towards patient left, axis 1 (rows) towards the feet and
   axis 2 (columns) towards the back, which is how a radiologist looks at a sagittal image;
2. an in-plane resampling to ``spacing`` mm (:func:`resample_in_plane`), by linear interpolation
   of intensities or of class probabilities. Slices are never resampled: the model is 2-D, and
   interpolating between 4 mm thick slices would only blur.

Obliquity is ignored on purpose: a grid tilted by 10-20 degrees is still a sagittal stack and the
model was trained with in-plane rotations; the label map goes back to the source grid through the
same index mapping, so no geometric error is introduced by the tilt.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pipeline.volume import Volume

#: LPS unit vectors of the working grid's axes: slices towards patient left (+x), rows towards the
#: feet (-z), columns towards the back (+y).
CANONICAL_DIRECTION: NDArray[np.float64] = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


class NotSagittalError(ValueError):
    """The series is not a sagittal stack (its slice normal is not the patient's left-right axis)."""


@dataclass(frozen=True)
class Canonicaliser:
    """Axis permutation and flips that map a source array onto the canonical orientation.

    ``perm[c]`` is the source axis that becomes canonical axis ``c``; ``flip[c]`` says whether it is
    reversed. Both are derived from the direction cosines only, so they are identical for the image
    and for every array on its grid (label maps, probabilities).
    """

    perm: tuple[int, int, int]
    flip: tuple[bool, bool, bool]
    source_shape: tuple[int, int, int]
    source_spacing: tuple[float, float, float]
    max_obliquity_deg: float
    """Largest angle between a source axis and the canonical axis it was mapped on."""

    @classmethod
    def for_volume(cls, volume: Volume, max_obliquity_deg: float = 45.0) -> Canonicaliser:
        """Match each source axis to the canonical axis it is most parallel to.

        Raises :class:`NotSagittalError` when the slice axis is not closest to left-right, because
        an axial or coronal series fed to a sagittal model gives confident nonsense.
        """
        cosines = CANONICAL_DIRECTION.T @ volume.direction  # [canonical c, source a]
        perm: list[int] = [-1, -1, -1]
        flip: list[bool] = [False, False, False]
        angles: list[float] = []
        used: set[int] = set()
        # Greedy on the largest |cosine| first: unambiguous for any grid less than 45 degrees oblique.
        order = np.dstack(np.unravel_index(np.argsort(-np.abs(cosines), axis=None), cosines.shape))[0]
        for c, a in order:
            if perm[c] != -1 or a in used:
                continue
            perm[c] = int(a)
            flip[c] = bool(cosines[c, a] < 0)
            angles.append(float(np.degrees(np.arccos(min(1.0, abs(cosines[c, a]))))))
            used.add(int(a))
        worst = max(angles)
        if worst > max_obliquity_deg:
            raise NotSagittalError(f"grid is {worst:.0f} degrees off a sagittal orientation")
        if perm[0] != 0:
            raise NotSagittalError("the slice normal is not the patient's left-right axis: not a sagittal series")
        return cls(
            perm=(perm[0], perm[1], perm[2]),
            flip=(flip[0], flip[1], flip[2]),
            source_shape=volume.shape,
            source_spacing=volume.spacing,
            max_obliquity_deg=worst,
        )

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Spacing of the canonical array (the source spacing, permuted)."""
        s = self.source_spacing
        return (s[self.perm[0]], s[self.perm[1]], s[self.perm[2]])

    def forward(self, array: NDArray) -> NDArray:
        """Source-grid array (3-D, optionally with trailing channel axes) -> canonical orientation."""
        out = np.transpose(array, self.perm + tuple(range(3, array.ndim)))
        for axis, flipped in enumerate(self.flip):
            if flipped:
                out = np.flip(out, axis=axis)
        return np.ascontiguousarray(out)

    def inverse(self, array: NDArray) -> NDArray:
        """Exact inverse of :meth:`forward`."""
        out = array
        for axis, flipped in enumerate(self.flip):
            if flipped:
                out = np.flip(out, axis=axis)
        inverse_perm = tuple(int(np.argsort(self.perm)[a]) for a in range(3))
        out = np.transpose(out, inverse_perm + tuple(range(3, array.ndim)))
        return np.ascontiguousarray(out)


def working_shape(shape: tuple[int, int], spacing: tuple[float, float], target: float) -> tuple[int, int]:
    """In-plane size of the working grid that covers the whole source field of view."""
    return tuple(  # type: ignore[return-value]
        int(np.floor((n - 1) * s / target + 1e-6)) + 1 for n, s in zip(shape, spacing, strict=True)
    )


def _zoom_coordinates(n_out: int, scale: float) -> NDArray[np.float64]:
    return np.arange(n_out, dtype=np.float64) * scale


def resample_in_plane(
    array: NDArray,
    spacing: tuple[float, float],
    target_spacing: tuple[float, float],
    out_shape: tuple[int, int],
    order: int = 1,
) -> NDArray:
    """Resample axes 1 and 2 of ``array`` (slices, rows, cols[, channels]) to a new pixel spacing.

    Voxel centres are aligned at index 0 (the grid origin never moves), so going to the working
    grid and coming back with swapped spacings samples the same physical points. ``order`` 0 is
    nearest neighbour (label maps), 1 linear (images, probabilities). Values beyond the field of
    view are taken from the nearest edge voxel.
    """
    rows = _zoom_coordinates(out_shape[0], target_spacing[0] / spacing[0])
    cols = _zoom_coordinates(out_shape[1], target_spacing[1] / spacing[1])
    identity = np.allclose(rows, np.arange(len(rows))) and np.allclose(cols, np.arange(len(cols)))
    if identity and array.shape[1:3] == tuple(out_shape):
        return array.copy()
    out_dtype = array.dtype if order == 0 else np.float32
    if order == 0:
        r = np.clip(np.rint(rows).astype(np.intp), 0, array.shape[1] - 1)
        c = np.clip(np.rint(cols).astype(np.intp), 0, array.shape[2] - 1)
        return np.ascontiguousarray(array[:, r][:, :, c]).astype(out_dtype, copy=False)
    # Separable linear interpolation: two 1-D passes, cheap in memory for 640 x 640 x channels.
    out = _linear_axis(array.astype(np.float32, copy=False), rows, axis=1)
    out = _linear_axis(out, cols, axis=2)
    return out.astype(out_dtype, copy=False)


def _linear_axis(array: NDArray[np.float32], coords: NDArray[np.float64], axis: int) -> NDArray[np.float32]:
    n = array.shape[axis]
    coords = np.clip(coords, 0, n - 1)
    lo = np.floor(coords).astype(np.intp)
    hi = np.minimum(lo + 1, n - 1)
    w = (coords - lo).astype(np.float32)
    shape = [1] * array.ndim
    shape[axis] = len(coords)
    w = w.reshape(shape)
    a = np.take(array, lo, axis=axis)
    b = np.take(array, hi, axis=axis)
    return a * (1 - w) + b * w


def normalise_intensity(array: NDArray) -> NDArray[np.float32]:
    """Map intensities to roughly [0, 1] from robust percentiles of the body, whatever the contrast.

    T1, T2 and STIR differ in which tissue is bright, not only in scale; the model learns the
    contrast itself (it is trained on randomised contrasts), so this only removes the scanner's
    arbitrary scale and offset. Percentiles are taken over voxels above a low threshold so that a
    large air background (or a zero-padded field of view) does not decide the scale.
    """
    data = np.asarray(array, dtype=np.float32)
    finite = data[np.isfinite(data)]
    if finite.size == 0:
        return np.zeros_like(data)
    sample = finite[:: max(1, finite.size // 2_000_000)]
    lo_all, hi_all = np.percentile(sample, [0.5, 99.5])
    body = sample[sample > lo_all + 0.05 * (hi_all - lo_all)]
    if body.size < 100:
        body = sample
    lo, hi = np.percentile(body, [0.5, 99.5])
    scale = float(hi - lo) if hi > lo else 1.0
    out = (np.nan_to_num(data, nan=float(lo)) - float(lo)) / scale
    return np.clip(out, -0.2, 1.5).astype(np.float32)


@dataclass(frozen=True)
class WorkingGrid:
    """Everything needed to go from the source grid to the model's grid and back again."""

    canon: Canonicaliser
    canonical_spacing: tuple[float, float, float]
    target_spacing: float
    shape: tuple[int, int, int]
    """Shape of the working array (slices, rows, cols)."""

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Spacing of the working array: slices untouched, rows and columns at the target spacing."""
        return (self.canonical_spacing[0], self.target_spacing, self.target_spacing)

    def to_working(self, array: NDArray, order: int = 1) -> NDArray:
        """Source-grid array -> working grid (canonical orientation, in-plane target spacing)."""
        canonical = self.canon.forward(array)
        return resample_in_plane(
            canonical,
            self.canonical_spacing[1:],
            (self.target_spacing, self.target_spacing),
            self.shape[1:],
            order=order,
        )

    def to_source(self, array: NDArray, order: int = 1) -> NDArray:
        """Working-grid array -> source grid; with ``order=1`` use it on probabilities, not labels."""
        canonical_shape = tuple(self.canon.source_shape[a] for a in self.canon.perm)
        canonical = resample_in_plane(
            array,
            (self.target_spacing, self.target_spacing),
            self.canonical_spacing[1:],
            canonical_shape[1:],
            order=order,
        )
        return self.canon.inverse(canonical)


def make_working_grid(volume: Volume, target_spacing: float) -> WorkingGrid:
    """Plan the mapping of ``volume`` onto a working grid with in-plane pixels of ``target_spacing`` mm."""
    canon = Canonicaliser.for_volume(volume)
    spacing = canon.spacing
    canonical_shape = tuple(volume.shape[a] for a in canon.perm)
    rows, cols = working_shape(canonical_shape[1:], spacing[1:], target_spacing)
    return WorkingGrid(canon, spacing, float(target_spacing), (canonical_shape[0], rows, cols))


def working_image(volume: Volume, grid: WorkingGrid) -> NDArray[np.float32]:
    """The normalised image on the working grid, ready for the network."""
    return normalise_intensity(grid.to_working(np.asarray(volume.array, dtype=np.float32), order=1))
