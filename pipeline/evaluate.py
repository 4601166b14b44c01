"""Figures of the bundled model: ``python -m pipeline.evaluate --phantoms 200 --cv-weights 'DIR/fold{k}.pt'``.

Two evaluations, printed as one table:

* **Held-out phantoms** with seeds from :data:`pipeline.train.EVAL_SEED_BASE` (never used in
  training), cycling through every region and contrast: Dice medians of vertebral bodies, discs and
  canal, the share of vertebrae and discs named correctly, the disc-centre error, and how many series
  had a wrong name while the result said the naming was certain.
* **Real cases, 5-fold cross-validation**: fold ``k`` holds the cases ``sorted(names)[k::5]`` and is
  analysed with the weights trained without them (``--cv-weights`` with ``{k}`` in the path; the
  training commands are in MODEL_CARD.md). Vertebral-body Dice and naming of T11..L5. The cases are
  1 mm isotropic (resampled upstream from about 4 mm sagittal slices); ``--slice-mm 4`` averages them
  back into thick sagittal slices (:func:`thick_slices`), the geometry a scanner sends.

How a structure counts as *named correctly*: among the predicted labels inside its true voxels, the
most frequent non-background one equals the true label. A structure the pipeline missed (less than
:data:`MIN_FOUND` of it outlined) counts as not named correctly; it does not count as *named wrong*
(the certainty rule speaks of the names given, and a miss is reported as its own line). Structures
with less than :data:`MIN_TRUE_MM3` in the field of view (cut by its edge) are not scored, because
neither a reader nor a model can name a sliver.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray

from pipeline import labels as L
from pipeline.analyse import analyse
from pipeline.inference import LoadedModel, load_model
from pipeline.provenance import versions_line
from pipeline.result import SpineAnalysis
from pipeline.rib_net import RibClassifier, load_rib_classifier
from pipeline.train import CONTRASTS, EVAL_SEED_BASE, REGIONS, cv_folds, load_real_volume, real_case_names
from pipeline.volume import Volume

log = logging.getLogger("pipeline.evaluate")

MIN_TRUE_MM3 = 1500.0
#: Share of a true structure that must be outlined (any structure label) for it to count as found.
MIN_FOUND = 0.1
_VERTEBRA_LABELS = [k for k in L.VERTEBRA_NAMES if k not in (L.SACRUM, L.COCCYX)]


class CachedModel:
    """A model whose probabilities per series are kept in ``cache_dir`` (``--cache``).

    Why: the network is nine tenths of an evaluation's time, and the instance and naming rules change far
    more often than the weights. A cached run re-scores 200 series in minutes. The file name carries the
    weights' SHA-256, so other weights never read it. Probabilities are stored as float16 (a fresh run can
    differ where two classes tie to three decimals).
    """

    def __init__(self, model: LoadedModel, cache_dir: Path) -> None:
        self.model = model
        self.cache_dir = cache_dir
        self.key = ""
        cache_dir.mkdir(parents=True, exist_ok=True)

    def __getattr__(self, name: str) -> object:
        return getattr(self.model, name)

    def predict(self, image: NDArray[np.float32]) -> NDArray[np.float32]:
        # One series is run on two grids (the fine pass): the first keeps the plain name, others get their size.
        stem = f"{self.model.sha256[:12]}-{self.key}"
        paths = [self.cache_dir / f"{stem}.npy", self.cache_dir / f"{stem}-{image.shape[1]}x{image.shape[2]}.npy"]
        for path in paths:
            if path.exists():
                probs = np.load(path)
                if probs.shape[0] == image.shape[0] and probs.shape[2:] == image.shape[1:]:
                    return probs.astype(np.float32)
        probs = self.model.predict(image)
        np.save(paths[0] if not paths[0].exists() else paths[1], probs.astype(np.float16))
        return probs


def _keyed(model: LoadedModel | CachedModel, key: str) -> LoadedModel:
    if isinstance(model, CachedModel):
        model.key = key
    return model  # type: ignore[return-value]


def dice(a: NDArray[np.bool_], b: NDArray[np.bool_]) -> float:
    denom = int(a.sum()) + int(b.sum())
    return 1.0 if denom == 0 else 2.0 * int((a & b).sum()) / denom


@dataclass
class SeriesScore:
    """Scores of one analysed series against its truth."""

    name: str
    dice: dict[str, float] = field(default_factory=dict)
    named: int = 0
    scored: int = 0
    disc_errors_mm: list[float] = field(default_factory=list)
    certain: bool = False
    wrong_names: list[str] = field(default_factory=list)
    seconds: float = 0.0
    ribs_judged: int = 0
    """Vertebrae the rib evidence judged (a network with the rib class only)."""
    ribs_wrong: list[str] = field(default_factory=list)
    """Those judged wrong, as ``true name: seen/none``."""


def _label_given(pred: NDArray[np.integer], region: NDArray[np.bool_]) -> int:
    """The vertebra or disc label most of a true structure was given, 0 when it was missed.

    Under :data:`MIN_FOUND` outlined is a miss, not a name: the few voxels a neighbour's outline spills
    into it (C2's dens into C1's ring) would otherwise decide its "name".
    """
    inside = pred[region]
    inside = inside[(inside > 0) & (inside < L.CANAL)]
    return int(np.bincount(inside).argmax()) if len(inside) >= MIN_FOUND * int(region.sum()) and len(inside) else 0


def _is_disc(lab: NDArray[np.integer]) -> NDArray[np.bool_]:
    return (lab > L.DISC_OFFSET) & (lab < L.DISC_OFFSET + 30)


def score_series(
    name: str, result: SpineAnalysis, truth: NDArray[np.integer], spacing: tuple[float, ...], affine: NDArray
) -> SeriesScore:
    """Compare a result's label map with a full truth label map on the same grid."""
    pred = result.label_map.astype(np.int32)
    true = np.asarray(truth).astype(np.int32)
    s = SeriesScore(name, certain=result.qc.naming_certain)
    s.dice["body"] = dice(np.isin(pred, _VERTEBRA_LABELS), np.isin(true, _VERTEBRA_LABELS))
    s.dice["disc"] = dice(_is_disc(pred), _is_disc(true))
    s.dice["canal"] = dice(np.isin(pred, (L.CANAL, L.CORD)), np.isin(true, (L.CANAL, L.CORD)))
    if (true == L.CORD).any():
        s.dice["cord"] = dice(pred == L.CORD, true == L.CORD)
    if (true == L.SACRUM).any():
        s.dice["sacrum"] = dice(pred == L.SACRUM, true == L.SACRUM)
    _score_ribs(s, result, pred, true)
    voxel_mm3 = float(np.prod(spacing))
    labels_true = [int(v) for v in np.unique(true) if L.is_vertebra(int(v)) or L.is_disc(int(v))]
    for lab in labels_true:
        if lab == L.COCCYX:
            continue
        region = true == lab
        if region.sum() * voxel_mm3 < MIN_TRUE_MM3 * (0.3 if L.is_disc(lab) else 1.0):
            continue
        s.scored += 1
        got = _label_given(pred, region)
        if got == lab:
            s.named += 1
        else:
            s.wrong_names.append(f"{L.label_name(lab)}->{L.label_name(got) if got else 'missed'}")
        if L.is_disc(lab) and (pred == lab).any():
            ct = np.argwhere(region).mean(axis=0)
            cp = np.argwhere(pred == lab).mean(axis=0)
            d = affine[:3, :3] @ (cp - ct)
            s.disc_errors_mm.append(float(np.linalg.norm(d)))
    return s


def _score_ribs(s: SeriesScore, result: SpineAnalysis, pred: NDArray[np.int32], true: NDArray[np.int32]) -> None:
    """Check each rib flag against the vertebra the flagged segment mostly covers (thoracic = has a rib)."""
    for name, seen in result.qc.ribs.items():
        label = L.VERTEBRA_LABELS.get(name)
        if label is None or not (pred == label).any():
            continue
        inside = true[pred == label]
        inside = inside[np.isin(inside, _VERTEBRA_LABELS)]
        if not len(inside):
            continue
        truth_name = L.VERTEBRA_NAMES[int(np.bincount(inside).argmax())]
        s.ribs_judged += 1
        if seen != truth_name.startswith("T"):
            s.ribs_wrong.append(f"{truth_name}: {'seen' if seen else 'none'}")


def _dump(scores: list[SeriesScore], path: str | None) -> None:
    if path:
        Path(path).write_text(json.dumps([s.__dict__ for s in scores], indent=1, default=float) + "\n")


def evaluate_phantoms(
    model: LoadedModel | CachedModel,
    count: int,
    start: int = 0,
    json_path: str | None = None,
    regions: tuple[str, ...] = REGIONS,
    ribs: bool = False,
    rib_classifier: RibClassifier | None = None,
    rib_evidence: bool = True,
) -> list[SeriesScore]:
    """Analyse ``count`` held-out phantoms; with ``json_path`` the scores so far are saved after each.

    ``regions`` keeps only the series of those regions (the cycle is unchanged, so series ``n`` is the
    same one in every run): a quick look at one weak region without the others' cost. ``ribs`` draws the
    same series with ribs (:mod:`pipeline.phantom.ribs`); their cached probabilities are kept apart.
    ``rib_classifier`` / ``rib_evidence`` as in :func:`pipeline.analyse.analyse`.
    """
    from pipeline import phantom

    scores = []
    for n in range(start, start + count):
        seed = EVAL_SEED_BASE + n
        region = REGIONS[n % len(REGIONS)]
        if region not in regions:
            continue
        contrast = CONTRASTS[(n // len(REGIONS)) % len(CONTRASTS)]
        case = phantom.generate(seed, region=region, contrast=contrast, truth=False, ribs=ribs)
        transitional = case.truth.get("anatomy", {}).get("transitional", "none")
        t = time.time()
        keyed = _keyed(model, f"{seed}-ribs" if ribs else str(seed))
        result = analyse(case.volume, keyed, rib_classifier=rib_classifier, rib_evidence=rib_evidence)
        name = f"{seed}-{region}-{contrast}" + ("" if transitional == "none" else f"-{transitional}")
        s = score_series(name, result, case.labels, case.volume.spacing, case.volume.affine)
        s.seconds = time.time() - t
        scores.append(s)
        _dump(scores, json_path)
        log.info(
            "%s body %.3f disc %.3f canal %.3f named %d/%d certain %s %s",
            s.name, s.dice["body"], s.dice["disc"], s.dice["canal"], s.named, s.scored, s.certain,
            ",".join(s.wrong_names[:6]),
        )  # fmt: skip
    return scores


def thick_slices(
    volume: Volume, labels: NDArray[np.integer], thickness_mm: float, window: int | None = None
) -> tuple[Volume, NDArray[np.integer]]:
    """A thin-slice sagittal volume averaged into slices ``thickness_mm`` thick, with matching labels.

    Why: the real cases are 1 mm isotropic, but a scanner sends sagittal series of 3-5 mm slices, where a
    small structure is partial volume in one or two slices; the cross-validation should see what the node
    will be sent. A thick slice is the mean of the ``n = round(thickness / spacing)`` thin slices it covers
    (a box slice profile) and takes the label of its middle thin slice. ``window`` keeps only that many thin
    slices around the centre (a fast test input); slices left over at the edge are dropped.
    """
    n = max(1, round(thickness_mm / volume.spacing[0]))
    first, count = 0, volume.shape[0]
    if window is not None and window < count:
        first, count = (count - window) // 2, window
    blocks = count // n
    if blocks < 1:
        raise ValueError(f"{count} slices of {volume.spacing[0]} mm cannot make one {thickness_mm} mm slice")
    stop = first + blocks * n
    arr = np.asarray(volume.array, dtype=np.float32)[first:stop]
    thick = arr.reshape(blocks, n, *arr.shape[1:]).mean(axis=1)
    middle = first + np.arange(blocks) * n + n // 2
    centre = first + (n - 1) / 2.0  # the first thick slice's centre, in thin-slice indices
    origin = volume.index_to_lps(np.array([centre, 0.0, 0.0]))
    spacing = (volume.spacing[0] * n, volume.spacing[1], volume.spacing[2])
    out = Volume(thick, spacing, volume.direction, origin, volume.contrast, dict(volume.metadata))
    return out, np.asarray(labels)[middle]  # fancy indexing copies: contiguous


def evaluate_real_cv(
    weights_pattern: str,
    device: str,
    only: list[int] | None = None,
    cache: Path | None = None,
    slice_mm: float | None = None,
    rib_classifier: RibClassifier | None = None,
    rib_evidence: bool = True,
    rib_pattern: str | None = None,
) -> list[SeriesScore]:
    """Each fold's cases analysed with that fold's weights (and, with ``rib_pattern``, its rib classifier).

    Weights or a rib classifier trained on any of their fold's test cases stop the run: the figure would
    not be a cross-validation.
    """
    scores = []
    for k, fold in enumerate(cv_folds(real_case_names())):
        if only is not None and k not in only:
            continue
        model: LoadedModel | CachedModel = load_fold_model(weights_pattern, k, fold, device)
        if cache is not None:
            model = CachedModel(model, cache)
        fold_ribs = rib_classifier
        if rib_pattern is not None and rib_evidence:
            fold_ribs = _fold_rib_classifier(rib_pattern.format(k=k), fold, k)
        for case in fold:
            volume, truth = load_real_volume(case)
            key = case
            if slice_mm is not None:
                volume, truth = thick_slices(volume, truth, slice_mm)
                key = f"{case}-{slice_mm:g}mm"
            t = time.time()
            result = analyse(volume, _keyed(model, key), rib_classifier=fold_ribs, rib_evidence=rib_evidence)
            scores.append(score_real(case, result, truth))
            scores[-1].seconds = time.time() - t
            s = scores[-1]
            log.info("fold %d %s body %.3f named %d/%d %s", k, case, s.dice["body"], s.named, s.scored,
                     ",".join(s.wrong_names))  # fmt: skip
    return scores


def load_fold_model(pattern: str, k: int, fold: list[str], device: str) -> LoadedModel:
    """Fold ``k``'s weights, refused when their sidecar lists one of the fold's test cases as trained on."""
    sidecar = Path(pattern.format(k=k)).with_suffix(".json")
    leaked = set(json.loads(sidecar.read_text())["data"]["real_cases"]) & set(fold)
    if leaked:
        raise SystemExit(f"fold {k} weights were trained on their own test cases: {sorted(leaked)}")
    return load_model(pattern.format(k=k), device=device)


def _fold_rib_classifier(path: str, fold: list[str], k: int) -> RibClassifier:
    """Fold ``k``'s rib classifier, refused when its sidecar lists one of the fold's cases as trained on."""
    trained = json.loads(Path(path).with_suffix(".json").read_text())["trained"].get("real_cases", [])
    leaked = set(trained) & set(fold)
    if leaked:
        raise SystemExit(f"fold {k} rib classifier was trained on its own test cases: {sorted(leaked)}")
    clf = load_rib_classifier(path)
    if clf is None:
        raise SystemExit(f"fold {k} rib classifier {path}: no such file")
    return clf


def score_real(name: str, result: SpineAnalysis, truth: NDArray[np.integer]) -> SeriesScore:
    """Body Dice and naming on a real case, whose truth only outlines the bodies T11..L5.

    Predicted bodies that do not touch a labelled body (T10 and above, not outlined) are left out
    of the Dice, since the truth says nothing about them.
    """
    pred = result.label_map.astype(np.int32)
    true = np.asarray(truth).astype(np.int32)
    s = SeriesScore(name, certain=result.qc.naming_certain)
    body_true = true > 0
    keep = np.zeros(pred.shape, bool)
    for lab in np.unique(pred):
        if lab in _VERTEBRA_LABELS:
            m = pred == lab
            if (m & body_true).sum() > 0.1 * m.sum():
                keep |= m
    s.dice["body"] = dice(keep, body_true)
    for lab in np.unique(true):
        if lab == 0:
            continue
        got = _label_given(pred, true == lab)
        s.scored += 1
        if got == lab:
            s.named += 1
        else:
            s.wrong_names.append(f"{L.label_name(int(lab))}->{L.label_name(got) if got else 'missed'}")
    return s


def misnamed(s: SeriesScore) -> list[str]:
    """The wrong names a series gave (``"L4->L5"``, ``"L5->sacrum"``), leaving out segmentation misses.

    A miss is a structure left as background (``"L4->missed"``) or covered by a neighbour of the other
    kind (``"C2/C3->C2"``: the disc's voxels went to the body above; ``"C3->C2/C3"``). Those are wrong
    outlines, counted against the share named correctly, but no level was given a wrong name, which is
    what the certainty rule speaks of.
    """
    return [w for w in s.wrong_names if not w.endswith("->missed") and _same_kind(*w.split("->"))]


def _same_kind(truth: str, got: str) -> bool:
    """Both discs (``"L4/L5"``) or both vertebrae (``"L4"``, ``"sacrum"``)."""
    return ("/" in truth) == ("/" in got)


def _median(values: list[float]) -> float:
    return float(np.median(values)) if values else float("nan")


def _rib_rows(what: str, scores: list[SeriesScore]) -> list[tuple[str, str, str]]:
    """Rib evidence: vertebrae judged, and judged wrong (only a network with the rib class judges any)."""
    judged = sum(s.ribs_judged for s in scores)
    if not judged:
        return []
    wrong = sum(len(s.ribs_wrong) for s in scores)
    series = sum(1 for s in scores if s.ribs_judged)
    return [(f"{what} vertebrae judged for a rib ({series} series), judged wrong", f"{judged}, {wrong} wrong", "")]


def table(phantom: list[SeriesScore], real: list[SeriesScore]) -> str:
    rows: list[tuple[str, str, str]] = []
    if phantom:
        n = len(phantom)
        for cls, target in (("body", ">= 0.90"), ("disc", ">= 0.85"), ("canal", ">= 0.85"), ("cord", ""),
                            ("sacrum", "")):  # fmt: skip
            vals = [s.dice[cls] for s in phantom if cls in s.dice]
            if vals:
                rows.append((f"phantom {cls} Dice median (n={len(vals)})", f"{_median(vals):.3f}", target))
        named = sum(s.named for s in phantom)
        scored = sum(s.scored for s in phantom)
        rows.append((f"phantom vertebrae+discs named correctly ({named}/{scored})",
                     f"{100 * named / max(scored, 1):.1f} %", ">= 98 %"))  # fmt: skip
        errs = [e for s in phantom for e in s.disc_errors_mm]
        rows.append((f"phantom disc centre error median (n={len(errs)})", f"{_median(errs):.2f} mm", "<= 2 mm"))
        wrong_certain = sum(1 for s in phantom if s.certain and misnamed(s))
        missed_certain = sum(1 for s in phantom if s.certain and len(misnamed(s)) < len(s.wrong_names))
        certain = sum(1 for s in phantom if s.certain)
        rows.append((f"phantom series named wrong while certain ({certain} certain of {n})",
                     str(wrong_certain), "0"))  # fmt: skip
        rows.append(("phantom series certain but with a structure missed or covered", str(missed_certain), ""))
        wrong_any = sum(1 for s in phantom if misnamed(s))
        rows.append(("phantom series with any wrong name (certain or not)", str(wrong_any), ""))
        by_region: dict[str, list[SeriesScore]] = defaultdict(list)
        for s in phantom:
            by_region[s.name.split("-")[1]].append(s)
        for region, ss in sorted(by_region.items()):
            nm = sum(x.named for x in ss)
            sc = sum(x.scored for x in ss)
            med = {c: _median([x.dice[c] for x in ss]) for c in ("body", "disc", "canal")}
            value = f"{med['body']:.3f}/{med['disc']:.3f}/{med['canal']:.3f}, {100 * nm / max(sc, 1):.1f} %"
            rows.append((f"  {region}: body/disc/canal Dice, named", value, ""))
        for kind in ("L6", "T13", "sacralised_L5"):
            ss = [x for x in phantom if x.name.endswith(f"-{kind}")]
            if ss:
                nm, sc = sum(x.named for x in ss), sum(x.scored for x in ss)
                share = f"{100 * nm / max(sc, 1):.1f} % ({nm}/{sc})"
                rows.append((f"  {len(ss)} series with {kind}: named", share, ""))
        rows += _rib_rows("phantom", phantom)
        rows.append(("phantom analyse() time median", f"{_median([s.seconds for s in phantom]):.1f} s", ""))
    if real:
        rows.append((f"real 5-fold CV body Dice median (n={len(real)})",
                     f"{_median([s.dice['body'] for s in real]):.3f}", ">= 0.85"))  # fmt: skip
        named = sum(s.named for s in real)
        scored = sum(s.scored for s in real)
        rows.append((f"real 5-fold CV bodies T11..L5 named correctly ({named}/{scored})",
                     f"{100 * named / max(scored, 1):.1f} %", ">= 95 %"))  # fmt: skip
        rows += _rib_rows("real", real)
        rows.append(("real cases named certain", f"{sum(s.certain for s in real)}/{len(real)}", ""))
        rows.append(("real cases named wrong while certain", str(sum(1 for s in real if s.certain and misnamed(s))),
                     "0"))  # fmt: skip
    width = max(len(r[0]) for r in rows) if rows else 10
    lines = [
        f"| {'figure':<{width}} | {'measured':>22} | {'target':>8} |",
        f"|{'-' * (width + 2)}|{'-' * 24}|{'-' * 10}|",
    ]
    lines += [f"| {a:<{width}} | {b:>22} | {c:>8} |" for a, b, c in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m pipeline.evaluate", description=__doc__.splitlines()[0])
    p.add_argument("--weights", default=None, help="weights for the phantom evaluation (default: bundled)")
    p.add_argument("--phantoms", type=int, default=200, help="held-out phantom series (0: skip)")
    p.add_argument("--phantom-start", type=int, default=0)
    p.add_argument("--cv-weights", default=None, help="fold weights, '{k}' replaced by 0..4 (omit: skip)")
    p.add_argument("--folds", type=int, nargs="+", default=None, help="only these CV folds (default: all 5)")
    p.add_argument("--slice-mm", type=float, default=None, help="real cases averaged into slices this thick")
    p.add_argument("--regions", nargs="+", choices=REGIONS, default=list(REGIONS), help="only these regions")
    p.add_argument("--ribs", action="store_true", help="phantoms drawn with ribs (pipeline.phantom.ribs)")
    p.add_argument("--rib-weights", default=None, help="rib classifier (default: the bundled one, when shipped)")
    p.add_argument("--no-rib-evidence", action="store_true", help="name without any rib evidence")
    p.add_argument("--cv-rib-weights", default=None, help="per-fold rib classifiers, '{k}' replaced by 0..4")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", default=None, help="also write per-series scores here")
    p.add_argument("--cache", type=Path, default=None, help="keep/reuse the network's probabilities here")
    p.add_argument(
        "--combine",
        nargs="+",
        default=None,
        help="print one table from --json files of earlier runs (a long evaluation split over processes)",
    )
    args = p.parse_args(argv)
    if args.combine:
        phantom_all: list[SeriesScore] = []
        real_all: list[SeriesScore] = []
        for path in args.combine:
            for raw in json.loads(Path(path).read_text()):
                s = SeriesScore(**raw)
                (real_all if s.name.startswith("VB2_") else phantom_all).append(s)
        print(table(phantom_all, real_all))
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    t0 = time.time()
    rib = None if args.no_rib_evidence else load_rib_classifier(args.rib_weights)
    if args.rib_weights and rib is None:
        raise SystemExit(f"--rib-weights {args.rib_weights}: no such file")
    rib_options = {"rib_classifier": rib, "rib_evidence": not args.no_rib_evidence}
    phantom_scores: list[SeriesScore] = []
    if args.phantoms:
        model: LoadedModel | CachedModel = load_model(args.weights, device=args.device)
        if args.cache is not None:
            model = CachedModel(model, args.cache)
        phantom_scores = evaluate_phantoms(
            model, args.phantoms, args.phantom_start, args.json, regions=tuple(args.regions), ribs=args.ribs,
            **rib_options,
        )
    real_scores: list[SeriesScore] = []
    if args.cv_weights:
        real_scores = evaluate_real_cv(
            args.cv_weights, args.device, args.folds, args.cache, args.slice_mm, **rib_options,
            rib_pattern=args.cv_rib_weights,
        )
    print(table(phantom_scores, real_scores))
    print(f"evaluated in {time.time() - t0:.0f} s; {versions_line()}")
    if phantom_scores:
        wrong_certain = [s for s in phantom_scores if s.certain and misnamed(s)]
        for s in wrong_certain:
            print(f"wrong while certain: {s.name}: {', '.join(s.wrong_names[:8])}")
    _dump(phantom_scores + real_scores, args.json)


if __name__ == "__main__":
    main()
