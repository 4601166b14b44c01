"""Training of the rib classifier: ``python -m pipeline.train_ribs --out pipeline/weights/rib_net.pt``.

Design choices, and why:

* **Phantoms with ribs, and some without.** Every thoracic vertebra of a ribbed phantom carries a rib,
  every lumbar one none. Left at that, a classifier could learn "thoracic-looking body" instead of "rib",
  which is no help for a T13 or an L6. So a share of the phantoms is drawn without ribs (``--ribless``)
  and every vertebra there is labelled rib-less: the only thing that tells the labels apart is the rib.
* **Transitional spines over-drawn** (``--transitional``): T13 (a rib) and L6 (none) are the vertebrae
  the classifier exists for, and the generator draws them in only 7 % of spines.
* **The thoracolumbar junction sampled more often** (``--junction-weight``): T10..L2 (and a T13) are the
  vertebrae whose judgement moves names; there a rib of the vertebra above runs past the body beside it,
  and only the head and neck at the body's own back tell whose rib it is.
* **Centres jittered** by a few millimetres, since at inference they come from the segmentation.
* **Seeds from their own range** (:data:`RIB_SEED_BASE`), apart from the segmentation network's training
  seeds and the evaluation seeds; a held-out validation set from further up the same range is scored
  at the end.
* **The real cases** (T11..L5 labelled; T11 and T12 carry ribs, L1..L5 none) are the only check on real
  anatomy, scored at their labelled body centres on 1 mm and 4 mm slices. ``--real-train`` adds them to
  training (``--real-share`` of each batch, drawn at 1, 3, 4 and 5 mm slices); ``--cv-fold k`` holds fold
  k out and scores it, as the segmentation's cross-validation does.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray
from scipy import ndimage
from torch.nn import functional as F

from pipeline import labels as L
from pipeline.preprocess import make_working_grid, working_image
from pipeline.provenance import library_versions
from pipeline.rib_net import CHANNELS, RibNet, both_sides_probability, save_rib_weights, stack_sides
from pipeline.rib_patches import vertebra_patches
from pipeline.train import (
    CONTRASTS,
    REAL_DATA,
    REGIONS,
    cv_folds,
    load_real_volume,
    random_intensity,
    real_case_names,
)

log = logging.getLogger("pipeline.train_ribs")

#: Phantom seeds of the rib classifier are ``RIB_SEED_BASE + n`` (training) and
#: ``RIB_SEED_BASE + VALIDATION_OFFSET + n`` (validation).
RIB_SEED_BASE = 3_000_000
VALIDATION_OFFSET = 500_000
SPACING_MM = 1.25
#: Vertebrae never judged: C1 and C2 (their own classes), the sacrum and coccyx.
NOT_JUDGED = {"C1", "C2", "S1", "Co"}
JITTER_MM = 2.0
#: Slice thicknesses (mm; 0 = as stored, 1 mm) at which the real training cases are drawn.
THICKNESSES = (0.0, 3.0, 4.0, 5.0)
#: The vertebrae sampled ``--junction-weight`` times as often as the others.
JUNCTION = {"T10", "T11", "T12", "T13", "L1", "L2"}


def body_centres(labels: NDArray[np.integer], spacing: tuple[float, float, float]) -> tuple[list[str], list[NDArray]]:
    """Names and centres (working-grid mm, head to feet) of the vertebral bodies in a label map.

    Bodies with under a third of the median voxel count are cut by the image edge and left out, as the
    segmentation would hardly find them either.
    """
    present = [int(v) for v in np.unique(labels) if int(v) in L.VERTEBRA_NAMES]
    if not present:
        return [], []
    sizes = ndimage.sum_labels(np.ones_like(labels), labels, present)
    centres = ndimage.center_of_mass(np.ones_like(labels), labels, present)
    keep = [i for i in range(len(present)) if sizes[i] >= np.median(sizes) / 3]
    keep.sort(key=lambda i: centres[i][1])
    sp = np.asarray(spacing)
    return [L.VERTEBRA_NAMES[present[i]] for i in keep], [np.asarray(centres[i]) * sp for i in keep]


def phantom_examples(job: tuple[int, int, float, float]) -> tuple[NDArray[np.float16], NDArray[np.uint8], list[str]]:
    """Patches and rib labels of one phantom: ``(seed, n, ribless_share, transitional_share)``."""
    from pipeline.phantom import generate

    seed, _n, ribless_share, transitional_share = job
    rng = np.random.default_rng([seed, 7])
    region = str(rng.choice(REGIONS, p=[0.4, 0.35, 0.05, 0.2]))
    contrast = str(rng.choice(CONTRASTS))
    ribs = bool(rng.random() >= ribless_share)
    transitional = str(rng.choice(["L6", "T13"])) if rng.random() < transitional_share else None
    options = {"transitional": transitional} if transitional else {}
    case = generate(
        seed, region=region, contrast=contrast, truth=False, ribs=ribs,
        domain_randomisation=bool(rng.random() < 0.5), **options,
    )
    grid = make_working_grid(case.volume, SPACING_MM)
    image = working_image(case.volume, grid)
    names, centres = body_centres(grid.to_working(case.labels, order=0), grid.spacing)
    jittered = [c + rng.normal(0, [0.3 * grid.spacing[0], JITTER_MM, JITTER_MM]) for c in centres]
    patches = vertebra_patches(image, grid.spacing, jittered)
    keep = [i for i, name in enumerate(names) if name not in NOT_JUDGED]
    labels = np.array([int(ribs and names[i].startswith("T")) for i in keep], dtype=np.uint8)
    return stack_sides(patches[keep]).astype(np.float16), labels, [names[i] for i in keep]


def build_set(
    first_seed: int, count: int, ribless: float, transitional: float, workers: int, cache: Path | None = None
) -> dict:
    """Patches of ``count`` phantoms from ``first_seed`` on, drawn by ``workers`` processes.

    With ``cache`` (a folder) the set is kept there and reused by a later run with the same arguments:
    several fine-tuning runs (the cross-validation folds) then draw the phantoms once.
    """
    path = None
    if cache is not None:
        path = Path(cache) / f"ribset-{first_seed}-{count}-{ribless:g}-{transitional:g}.npz"
        if path.exists():
            with np.load(path) as f:
                return {"x": f["x"], "y": f["y"], "names": list(f["names"])}
    jobs = [(first_seed + n, n, ribless, transitional) for n in range(count)]
    xs, ys, names = [], [], []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for x, y, nm in pool.map(phantom_examples, jobs, chunksize=4):
            xs.append(x)
            ys.append(y)
            names += nm
    out = {"x": np.concatenate(xs), "y": np.concatenate(ys), "names": names}
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, x=out["x"], y=out["y"], names=np.array(names))
    return out


def real_examples(cases: list[str], thicknesses: tuple[float, ...] = (0.0,), root: Path = REAL_DATA) -> dict:
    """Patches of the labelled real bodies (T11..L5) at their labelled centres; T11 and T12 carry ribs.

    ``thicknesses`` (mm; 0 = the 1 mm slices as stored) also draws each case averaged into thicker slices,
    as a scanner sends them (:func:`pipeline.evaluate.thick_slices`): the node sees 3-5 mm sagittal slices.
    """
    from pipeline.evaluate import thick_slices

    xs, ys, names = [], [], []
    for case in cases:
        volume0, labels0 = load_real_volume(case, root)
        for mm in thicknesses:
            volume, labels = thick_slices(volume0, labels0, mm) if mm else (volume0, labels0)
            grid = make_working_grid(volume, SPACING_MM)
            image = working_image(volume, grid)
            nm, centres = body_centres(grid.to_working(labels, order=0), grid.spacing)
            if not nm:
                continue
            xs.append(stack_sides(vertebra_patches(image, grid.spacing, centres)).astype(np.float16))
            ys.append(np.array([int(n.startswith("T")) for n in nm], dtype=np.uint8))
            names += [f"{case}@{mm:g}:{n}" for n in nm]
    if not xs:
        return {"x": np.zeros((0, 2 * CHANNELS, 1, 1), np.float16), "y": np.zeros(0, np.uint8), "names": []}
    return {"x": np.concatenate(xs), "y": np.concatenate(ys), "names": names}


def real_split(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """(training, held-out) real cases: ``--cv-fold k`` holds fold k out, ``--real-train`` trains on the rest."""
    if not REAL_DATA.exists():
        return [], []
    names = real_case_names()
    held = cv_folds(names)[args.cv_fold] if args.cv_fold is not None else ([] if args.real_train else names)
    train_cases = [n for n in names if n not in held] if args.real_train else []
    return train_cases, held


def augment(x: NDArray[np.float32], rng: np.random.Generator) -> NDArray[np.float32]:
    """Contrast randomisation of the image planes (the masks stay), and a random left-right swap."""
    out = x.copy()
    n_lat = CHANNELS // 2
    for i in range(len(out)):
        planes = [*range(n_lat), *range(CHANNELS, CHANNELS + n_lat)]
        img = out[i, planes]
        mask = out[i, [p + n_lat for p in planes]] > 0
        shape = img.shape
        img = random_intensity(img.reshape(-1, shape[-1]), rng, 1.0).reshape(shape)
        out[i, planes] = np.where(mask, img, 0.0)
        if rng.random() < 0.5:
            out[i] = np.concatenate([out[i, CHANNELS:], out[i, :CHANNELS]])
    return out


def predict(network: RibNet, x: NDArray, batch: int = 256) -> NDArray[np.float64]:
    """Rib probability per example, averaged over the two side orders (as at inference)."""
    network.eval()
    out = []
    with torch.inference_mode():
        for i in range(0, len(x), batch):
            t = torch.from_numpy(np.asarray(x[i : i + batch], dtype=np.float32))
            out.append(both_sides_probability(network, t))
    return np.concatenate(out) if out else np.zeros(0)


def report(what: str, probs: NDArray, y: NDArray, names: list[str]) -> dict:
    """Accuracy at 0.5, and how many the thresholded flags got right, wrong or left undecided."""
    from pipeline.rib_net import NO_RIB, RIB

    decided = (probs >= RIB) | (probs <= NO_RIB)
    right = decided & ((probs >= RIB) == (y == 1))
    wrong = decided & ~right
    wrong_names = [names[i] for i in np.nonzero(wrong)[0]]
    row = {
        "set": what,
        "n": len(y),
        "accuracy": float(np.mean((probs >= 0.5) == (y == 1))) if len(y) else 0.0,
        "decided": int(decided.sum()),
        "right": int(right.sum()),
        "wrong": int(wrong.sum()),
        "wrong_names": wrong_names[:40],
    }
    print(
        f"{what:>12}: n={row['n']:5d} accuracy {row['accuracy']:.3f}  decided {row['decided']:5d}"
        f"  right {row['right']:5d}  wrong {row['wrong']:4d}"
    )
    return row


def train(args: argparse.Namespace) -> dict:
    """Draw the sets, train, score the validation and real sets, write the weights and sidecar."""
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    t0 = time.time()
    common = (args.ribless, args.transitional, args.workers, args.set_cache)
    train_set = build_set(RIB_SEED_BASE + args.phantom_offset, args.phantoms, *common)
    val_set = build_set(RIB_SEED_BASE + VALIDATION_OFFSET, args.validation, *common)
    n_train, n_val = len(train_set["y"]), len(val_set["y"])
    log.info("drew %d training and %d validation vertebrae in %.0f s", n_train, n_val, time.time() - t0)
    real_train, real_held = real_split(args)
    real = real_examples(real_train, THICKNESSES) if real_train else None
    network = RibNet(args.width)
    if args.init:
        network.load_state_dict(torch.load(args.init, map_location="cpu", weights_only=True))
    opt = torch.optim.AdamW(network.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps)
    x, y = train_set["x"], train_set["y"]
    positive = float(y.mean())
    weight = np.array([args.junction_weight if n in JUNCTION else 1.0 for n in train_set["names"]])
    weight /= weight.sum()
    t1 = time.time()
    for step in range(args.steps):
        network.train()
        idx = rng.choice(len(y), args.batch, p=weight)
        xs, ys = x[idx], y[idx]
        if real is not None:
            k = round(args.real_share * args.batch)
            ridx = rng.integers(0, len(real["y"]), k)
            xs, ys = np.concatenate([xs[k:], real["x"][ridx]]), np.concatenate([ys[k:], real["y"][ridx]])
        xb = torch.from_numpy(augment(xs.astype(np.float32), rng))
        yb = torch.from_numpy(ys.astype(np.float32))
        loss = F.binary_cross_entropy_with_logits(network(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 200 == 0 or step == args.steps - 1:
            log.info("step %d loss %.4f (%.0f s)", step, loss.item(), time.time() - t1)
        if time.time() - t1 > args.max_minutes * 60:
            log.info("time limit at step %d", step)
            break
    rows = [report("validation", predict(network, val_set["x"]), val_set["y"], val_set["names"])]
    if args.real and real_held:
        for mm in (0.0, 4.0):
            held = real_examples(real_held, (mm,))
            what = f"real {mm:g} mm" if mm else "real 1 mm"
            rows.append(report(what, predict(network, held["x"]), held["y"], held["names"]))
    meta = {
        "version": args.version,
        "width": args.width,
        "trained": {
            "command": "python -m pipeline.train_ribs " + " ".join(args.argv),
            "seed": args.seed,
            "steps": step + 1,
            "examples": len(y),
            "positive_share": positive,
            "real_cases": real_train,
            "real_held_out": real_held,
            "minutes": round((time.time() - t0) / 60, 1),
            "torch": torch.__version__,
            "machine": platform.machine(),
            "libraries": library_versions(),
        },
        "scores": rows,
    }
    return save_rib_weights(network, Path(args.out), meta)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pipeline.train_ribs", description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="weights file to write (a .json sidecar goes beside it)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--phantoms", type=int, default=600, help="training phantoms")
    p.add_argument("--phantom-offset", type=int, default=0)
    p.add_argument("--validation", type=int, default=100, help="validation phantoms")
    p.add_argument("--ribless", type=float, default=0.3, help="share of phantoms drawn without ribs")
    p.add_argument("--transitional", type=float, default=0.25, help="share of spines with a T13 or an L6")
    p.add_argument("--junction-weight", type=float, default=3.0, help="sampling weight of T10..L2 (and T13)")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--max-minutes", type=float, default=30.0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--workers", type=int, default=2, help="processes drawing the phantoms")
    p.add_argument("--no-real", dest="real", action="store_false", help="skip the real-case check")
    p.add_argument("--real-train", action="store_true", help="also train on the real cases (T11/T12 rib)")
    p.add_argument("--cv-fold", type=int, default=None, help="hold this fold (0..4) of the real cases out")
    p.add_argument("--real-share", type=float, default=0.25, help="share of each batch drawn from the real cases")
    p.add_argument("--init", default=None, help="start from these rib classifier weights")
    p.add_argument("--set-cache", type=Path, default=None, help="keep the drawn phantom patches here for reuse")
    p.add_argument("--version", default="dev")
    return p


def main(argv: list[str] | None = None) -> None:
    import sys

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args = build_parser().parse_args(argv)
    args.argv = list(argv if argv is not None else sys.argv[1:])
    meta = train(args)
    print(json.dumps({"sha256": meta["sha256"], "scores": meta["scores"]}, indent=2))


if __name__ == "__main__":
    main()
