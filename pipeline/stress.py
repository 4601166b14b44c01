"""How the model holds up on scans unlike its training data: ``python -m pipeline.stress``.

Why: the node will be sent series from scanners, coils and protocols that none of the 17 real cases
came from, and the phantoms share their generator's idea of an image. This command takes the real cases
(averaged into the thick sagittal slices a scanner sends, as ``evaluate --slice-mm``) and changes them
the way another site's series would differ: intensity scale, noise, coil shading, motion ghosts, coarser
pixels, thicker slices, a tilted patient, a field of view cut above or below. Each change is scored like
the cross-validation (body Dice over T11..L5, bodies named correctly) and printed next to the unchanged
series, so what matters is the *drop* a change causes, and whether a broken anchor is flagged uncertain
instead of named wrong with certainty.

With the bundled weights the cases are in-sample (v7 trained on all 17), so the levels are optimistic;
``--cv-weights`` scores each case with the fold model that never saw it, as ``evaluate`` does, and
``--phantoms N ...`` stresses held-out phantom series instead (never trained on; every vertebra and disc
scored, as ``evaluate`` scores them; the slice-thickness changes do not apply to them). Every change is
deterministic (seeded per case), so a rerun gives the same table.

Plain numpy/scipy on :class:`pipeline.volume.Volume`; no DICOM.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray
from scipy import ndimage

from pipeline import labels as L
from pipeline.analyse import analyse
from pipeline.evaluate import (
    CachedModel,
    SeriesScore,
    _keyed,
    _median,
    load_fold_model,
    misnamed,
    score_real,
    score_series,
    thick_slices,
)
from pipeline.inference import LoadedModel, load_model
from pipeline.preprocess import Canonicaliser
from pipeline.provenance import versions_line
from pipeline.result import SpineAnalysis
from pipeline.train import CONTRASTS, EVAL_SEED_BASE, REGIONS, cv_folds, load_real_volume, real_case_names
from pipeline.volume import Volume

log = logging.getLogger("pipeline.stress")

#: The slice thickness (mm) every change starts from: what a lumbar sagittal T2 is usually acquired at.
BASE_SLICE_MM = 4.0

Labels = NDArray[np.integer]
Change = Callable[[Volume, Labels, np.random.Generator], tuple[Volume, Labels]]


@dataclass(frozen=True)
class Stress:
    """One way another site's series differs: applied to the thick-slice volume and its truth."""

    name: str
    description: str
    change: Change
    slice_mm: float = BASE_SLICE_MM


def _with_array(volume: Volume, array: NDArray, **changes: object) -> Volume:
    """The same geometry (unless ``changes`` says otherwise) with another pixel array, as float32."""
    return replace(volume, array=np.ascontiguousarray(array, dtype=np.float32), **changes)  # type: ignore[arg-type]


def in_plane_axis(volume: Volume, lps_axis: int) -> tuple[int, int]:
    """The array axis (1 or 2) that runs closest to patient axis ``lps_axis`` (1 P, 2 S), and its sign.

    The sign is +1 when the index grows towards P or S. Read off the pipeline's own
    :class:`pipeline.preprocess.Canonicaliser`, whose working rows run to the feet and columns to the back.
    """
    canon = Canonicaliser.for_volume(volume)
    if lps_axis == 2:
        return canon.perm[1], 1 if canon.flip[1] else -1
    if lps_axis == 1:
        return canon.perm[2], -1 if canon.flip[2] else 1
    raise ValueError(f"in-plane axes are P (1) and S (2), not {lps_axis}")


def _tissue_level(array: NDArray) -> float:
    """A typical tissue intensity: the median of the voxels brighter than the image's median."""
    data = np.asarray(array, dtype=np.float64)
    return float(np.median(data[data > np.median(data)])) if data.size else 1.0


def unchanged(volume: Volume, labels: Labels, rng: np.random.Generator) -> tuple[Volume, Labels]:
    return volume, labels


def rescaled(volume: Volume, labels: Labels, rng: np.random.Generator) -> tuple[Volume, Labels]:
    """Another scanner's scale and offset (a 12-bit range with a rescale intercept): must change nothing."""
    return _with_array(volume, np.asarray(volume.array, np.float32) * 23.7 + 1500.0), labels


def rician_noise(snr: float) -> Change:
    """Rician noise (magnitude of complex Gaussian noise) at this signal-to-noise ratio of the tissue."""

    def change(volume: Volume, labels: Labels, rng: np.random.Generator) -> tuple[Volume, Labels]:
        a = np.asarray(volume.array, np.float32)
        sigma = _tissue_level(a) / snr
        real = a + rng.normal(0.0, sigma, a.shape).astype(np.float32)
        imag = rng.normal(0.0, sigma, a.shape).astype(np.float32)
        return _with_array(volume, np.hypot(real, imag)), labels

    return change


def coil_shading(volume: Volume, labels: Labels, rng: np.random.Generator) -> tuple[Volume, Labels]:
    """A posterior spine coil's fall-off: full signal at the back, a quarter at the front, uneven head to feet.

    Gain ``0.25 ** depth`` with ``depth`` 0 at the posterior edge of the field of view and 1 at the
    anterior one, times a smooth head-feet ripple (0.75-1.25, the coil elements' coverage).
    """
    a = np.asarray(volume.array, np.float32)
    ap, ap_sign = in_plane_axis(volume, 1)
    hf, _ = in_plane_axis(volume, 2)
    depth = np.linspace(0.0, 1.0, a.shape[ap])
    if ap_sign > 0:  # index grows towards posterior: the back is the last index
        depth = depth[::-1]
    shape = [1, 1, 1]
    shape[ap] = a.shape[ap]
    gain = (0.25**depth).reshape(shape)
    phase = rng.uniform(0, 2 * np.pi)
    ripple = 1.0 + 0.25 * np.sin(np.linspace(0, 3 * np.pi, a.shape[hf]) + phase)
    shape = [1, 1, 1]
    shape[hf] = a.shape[hf]
    return _with_array(volume, a * gain * ripple.reshape(shape)), labels


def motion_ghosts(volume: Volume, labels: Labels, rng: np.random.Generator) -> tuple[Volume, Labels]:
    """Breathing ghosts: faint copies of the image a quarter field of view away along the phase-encode axis.

    Sagittal spine series usually encode phase antero-posteriorly; each ghost carries 12 % of the image.
    """
    a = np.asarray(volume.array, np.float32)
    ap, _ = in_plane_axis(volume, 1)
    shift = a.shape[ap] // 4
    ghosts = 0.12 * (np.roll(a, shift, axis=ap) + np.roll(a, -shift, axis=ap))
    return _with_array(volume, a + ghosts), labels


def coarse_pixels(volume: Volume, labels: Labels, rng: np.random.Generator) -> tuple[Volume, Labels]:
    """Pixels twice as large in-plane (a 256 matrix where the cases have 512): band-limited, then subsampled.

    The truth keeps every second row and column, which is the centre of each new pixel's footprint to
    within half an old pixel (the pipeline resamples to its own grid anyway).
    """
    a = ndimage.gaussian_filter(np.asarray(volume.array, np.float32), sigma=(0, 0.85, 0.85))
    spacing = (volume.spacing[0], volume.spacing[1] * 2, volume.spacing[2] * 2)
    return _with_array(volume, a[:, ::2, ::2], spacing=spacing), np.ascontiguousarray(labels[:, ::2, ::2])


def tilted(degrees: float) -> Change:
    """The spine rotated in the image plane (a patient lying crooked, or a lordosis beyond the usual)."""

    def change(volume: Volume, labels: Labels, rng: np.random.Generator) -> tuple[Volume, Labels]:
        a = np.asarray(volume.array, np.float32)
        floor = float(np.percentile(a, 1))
        out = ndimage.rotate(a, degrees, axes=(1, 2), reshape=False, order=1, mode="constant", cval=floor)
        lab = ndimage.rotate(np.asarray(labels), degrees, axes=(1, 2), reshape=False, order=0, mode="constant")
        return _with_array(volume, out), lab

    return change


def metal_artefact(level: str) -> Change:
    """A pedicle screw's susceptibility artefact behind ``level``'s body: a signal void with a bright rim.

    The void (12 mm radius in-plane, 16 mm across the slices) is centred 20 mm behind the body's centre, so
    it takes the back of the body and the pedicles, as a screw's does on a fast spin-echo T2; the rim
    (3 mm) is 2.5 times the tissue level. The truth is left as it was: the body is still there.
    """

    def change(volume: Volume, labels: Labels, rng: np.random.Generator) -> tuple[Volume, Labels]:
        where = np.argwhere(np.asarray(labels) == L.VERTEBRA_LABELS[level])
        if not len(where):
            return volume, labels
        a = np.asarray(volume.array, np.float32).copy()
        centre = volume.index_to_lps(where.mean(axis=0)) + np.array([0.0, 20.0, 0.0])  # +y is posterior
        grid = np.indices(a.shape, dtype=np.float32).reshape(3, -1).T
        offset = volume.index_to_lps(grid) - centre
        # Distance in a frame squashed across the slices (16 mm vs 12 mm) so the void is a flat ellipsoid.
        r = np.sqrt(offset[:, 1] ** 2 + offset[:, 2] ** 2 + (offset[:, 0] * 12.0 / 8.0) ** 2).reshape(a.shape)
        level_ = _tissue_level(a)
        a[(r >= 12.0) & (r < 15.0)] = 2.5 * level_
        a[r < 12.0] = 0.05 * level_
        return _with_array(volume, a), labels

    return change


def _level_centre(labels: Labels, level: str, axis: int) -> int | None:
    """Index along ``axis`` of the centre of a labelled vertebra, or None when it is not labelled."""
    where = np.nonzero(np.asarray(labels) == L.VERTEBRA_LABELS[level])
    return None if not len(where[0]) else round(float(np.mean(where[axis])))


def _crop(volume: Volume, labels: Labels, axis: int, keep: slice) -> tuple[Volume, Labels]:
    """The volume and truth cut to ``keep`` along ``axis``; a body that lost a quarter of its voxels is unscored.

    Why unscored: a reader names a half body from its neighbours, but the scoring would count a sliver the
    pipeline leaves out as a miss, which is the edge rule's business and not what this change measures.
    """
    index = [slice(None)] * 3
    index[axis] = keep
    start = np.zeros(3)
    start[axis] = keep.start or 0
    origin = volume.index_to_lps(start)
    cut = np.ascontiguousarray(np.asarray(labels)[tuple(index)])
    before = np.bincount(np.asarray(labels).ravel(), minlength=256)
    after = np.bincount(cut.ravel(), minlength=256)
    for lab in np.nonzero(before)[0]:
        if lab and after[lab] < 0.75 * before[lab]:
            cut[cut == lab] = 0
    return _with_array(volume, np.asarray(volume.array)[tuple(index)], origin=origin), cut


def cut_at(level: str, keep: str) -> Change:
    """A field of view cut through the middle of ``level``, keeping the ``"feet"`` or the ``"head"`` side.

    Keeping the feet side from L1 is a lumbar view that shows no lower thoracic body; keeping the head
    side down to L4 leaves no sacrum in view, so no anchor for the names.
    """

    def change(volume: Volume, labels: Labels, rng: np.random.Generator) -> tuple[Volume, Labels]:
        hf, sign = in_plane_axis(volume, 2)  # sign > 0: the index grows towards the head
        centre = _level_centre(labels, level, hf)
        if centre is None:
            return volume, labels
        low_side = slice(0, centre + 1)
        high_side = slice(centre, None)
        towards_feet = (sign > 0) == (keep == "feet")
        return _crop(volume, labels, hf, low_side if towards_feet else high_side)

    return change


STRESSES: tuple[Stress, ...] = (
    Stress("unchanged", "4 mm slices, as the cross-validation scores them", unchanged),
    Stress("rescaled", "intensities x 23.7 + 1500 (another scanner's scale)", rescaled),
    Stress("noise-snr12", "Rician noise, tissue SNR 12 (a 1.5 T scan)", rician_noise(12.0)),
    Stress("noise-snr6", "Rician noise, tissue SNR 6 (a poor scan)", rician_noise(6.0)),
    Stress("coil-shading", "posterior coil fall-off to 25 % at the front, head-feet ripple", coil_shading),
    Stress("ghosts", "two motion ghosts of 12 % a quarter field away (antero-posterior)", motion_ghosts),
    Stress("coarse", "pixels twice as large in-plane", coarse_pixels),
    Stress("slices-6mm", "6 mm slices", unchanged, slice_mm=6.0),
    Stress("slices-3mm", "3 mm slices", unchanged, slice_mm=3.0),
    Stress("tilt+15", "the spine rotated 15 degrees in the image plane", tilted(15.0)),
    Stress("tilt-15", "the spine rotated -15 degrees in the image plane", tilted(-15.0)),
    Stress("metal-L4", "a pedicle screw's signal void and bright rim behind L4", metal_artefact("L4")),
    Stress("from-L1", "field of view from the middle of L1 down", cut_at("L1", keep="feet")),
    Stress("to-L4", "field of view down to the middle of L4: no sacrum in view", cut_at("L4", keep="head")),
)
STRESS_NAMES = tuple(s.name for s in STRESSES)


@dataclass
class StressScore:
    """One case under one change."""

    stress: str
    score: SeriesScore


@dataclass(frozen=True)
class Case:
    """A series to stress: how to get it at a slice thickness, and how to score a result against its truth."""

    name: str
    load: Callable[[float], tuple[Volume, Labels] | None]
    """The volume and truth at this slice thickness, or None where the case has only its own."""
    score: Callable[[SpineAnalysis, Labels, Volume], SeriesScore]


def real_case(name: str) -> Case:
    """A real case, averaged into slices of the asked thickness (:func:`pipeline.evaluate.thick_slices`)."""
    thin: list[tuple[Volume, Labels]] = []

    def load(slice_mm: float) -> tuple[Volume, Labels]:
        if not thin:
            thin.append(load_real_volume(name))
        return thick_slices(*thin[0], slice_mm)

    return Case(name, load, lambda result, truth, volume: score_real(name, result, truth))


def phantom_case(n: int) -> Case:
    """Held-out phantom series ``n`` of :func:`pipeline.evaluate.evaluate_phantoms` (never trained on).

    A phantom comes at the thickness its generator drew; the slice-thickness changes skip it.
    """
    from pipeline import phantom

    seed = EVAL_SEED_BASE + n
    region = REGIONS[n % len(REGIONS)]
    contrast = CONTRASTS[(n // len(REGIONS)) % len(CONTRASTS)]
    drawn: list[tuple[Volume, Labels]] = []

    def load(slice_mm: float) -> tuple[Volume, Labels] | None:
        if slice_mm != BASE_SLICE_MM:
            return None
        if not drawn:
            case = phantom.generate(seed, region=region, contrast=contrast, truth=False)
            drawn.append((case.volume, case.labels))
        return drawn[0]

    def score(result: SpineAnalysis, truth: Labels, volume: Volume) -> SeriesScore:
        return score_series(f"{seed}-{region}-{contrast}", result, truth, volume.spacing, volume.affine)

    return Case(f"{seed}-{region}-{contrast}", load, score)


def run_stress(
    stresses: list[Stress],
    cases: list[Case],
    model_for: Callable[[str], LoadedModel | CachedModel],
    seed: int = 0,
) -> list[StressScore]:
    """Every case under every change, analysed with ``model_for(case name)``."""
    out = []
    for case_index, case in enumerate(cases):
        model = model_for(case.name)
        for stress in stresses:
            loaded = case.load(stress.slice_mm)
            if loaded is None:
                continue
            rng = np.random.default_rng([seed, case_index, STRESS_NAMES.index(stress.name)])
            volume, truth = stress.change(*loaded, rng)
            t = time.time()
            result = analyse(volume, _keyed(model, f"{case.name}-stress-{stress.name}"))
            score = case.score(result, truth, volume)
            score.seconds = time.time() - t
            out.append(StressScore(stress.name, score))
            log.info("%s %s body %.3f named %d/%d certain %s %s", stress.name, case.name, score.dice["body"],
                     score.named, score.scored, score.certain, ",".join(score.wrong_names))  # fmt: skip
    return out


def table(scores: list[StressScore]) -> str:
    """One row per change: body Dice median, bodies named, cases with a wrong name, certainty."""
    by_stress: dict[str, list[SeriesScore]] = {}
    for s in scores:
        by_stress.setdefault(s.stress, []).append(s.score)
    columns = ("change", "cases", "body Dice median", "named correctly", "cases with a miss or wrong name", "certain",
               "wrong while certain")  # fmt: skip
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    for name, ss in by_stress.items():
        named, scored = sum(s.named for s in ss), sum(s.scored for s in ss)
        share = f"{100 * named / max(scored, 1):.1f} % ({named}/{scored})"
        bad = sum(1 for s in ss if s.wrong_names)
        certain = sum(1 for s in ss if s.certain)
        wrong_certain = sum(1 for s in ss if s.certain and misnamed(s))
        body = _median([s.dice["body"] for s in ss])
        lines.append(f"| {name} | {len(ss)} | {body:.3f} | {share} | {bad} | {certain} | {wrong_certain} |")
    return "\n".join(lines)


def _fold_models(pattern: str, device: str, cache: Path | None) -> Callable[[str], LoadedModel | CachedModel]:
    """``model_for(case)``: the fold model that never saw the case (refused when its sidecar says it did)."""
    folds = cv_folds(real_case_names())
    loaded: dict[int, LoadedModel | CachedModel] = {}

    def model_for(case: str) -> LoadedModel | CachedModel:
        k = next(i for i, fold in enumerate(folds) if case in fold)
        if k not in loaded:
            model = load_fold_model(pattern, k, folds[k], device)
            loaded[k] = CachedModel(model, cache) if cache is not None else model
        return loaded[k]

    return model_for


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m pipeline.stress", description=__doc__.splitlines()[0])
    p.add_argument("--weights", default=None, help="weights for every case (default: bundled, in-sample)")
    p.add_argument("--cv-weights", default=None, help="fold weights, '{k}' replaced by 0..4: out-of-fold scores")
    p.add_argument("--stress", nargs="+", choices=STRESS_NAMES, default=list(STRESS_NAMES), help="only these")
    p.add_argument("--cases", nargs="+", default=None, help="only these real cases (default: all 17)")
    p.add_argument("--phantoms", type=int, nargs="+", default=None,
                   help="held-out phantom series numbers (as evaluate's) instead of the real cases")  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="seed of the random changes (noise, ripple phase)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--cache", type=Path, default=None, help="keep/reuse the network's probabilities here")
    p.add_argument("--json", default=None, help="also write per-case scores here")
    p.add_argument("--combine", nargs="+", default=None, help="print one table from --json files of earlier runs")
    args = p.parse_args(argv)
    if args.combine:
        rows = [row for path in args.combine for row in json.loads(Path(path).read_text())]
        print(table([StressScore(row.pop("stress"), SeriesScore(**row)) for row in rows]))
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    t0 = time.time()
    if args.cv_weights:
        model_for = _fold_models(args.cv_weights, args.device, args.cache)
    else:
        model: LoadedModel | CachedModel = load_model(args.weights, device=args.device)
        if args.cache is not None:
            model = CachedModel(model, args.cache)
        model_for = lambda case: model  # noqa: E731
    stresses = [s for s in STRESSES if s.name in args.stress]
    if args.phantoms is not None:
        if args.cv_weights:
            raise SystemExit("--cv-weights scores real cases; phantoms use --weights")
        cases = [phantom_case(n) for n in args.phantoms]
    else:
        cases = [real_case(name) for name in args.cases or real_case_names()]
    scores = run_stress(stresses, cases, model_for, args.seed)
    print(table(scores))
    kind = "held-out phantoms" if args.phantoms is not None else "real cases, "
    kind += (
        "" if args.phantoms is not None else ("out-of-fold" if args.cv_weights else "in-sample (the weights saw them)")
    )
    print(f"{kind}; "
          f"evaluated in {time.time() - t0:.0f} s; {versions_line()}")  # fmt: skip
    if args.json:
        rows = [{"stress": s.stress, **s.score.__dict__} for s in scores]
        Path(args.json).write_text(json.dumps(rows, indent=1, default=float) + "\n")


if __name__ == "__main__":
    main()
