"""Training of the bundled network: ``python -m pipeline.train --out pipeline/weights/spine_unet2d.pt``.

Design choices, and why:

* **Every batch mixes real and synthetic slices.** The 17 real T2 cases teach what real anatomy and
  scanner noise look like but only label vertebral bodies; the phantoms label everything (discs,
  canal, cord, sacrum, C2) on every region and contrast but are synthetic. Real-only would never
  learn discs; phantom-only over-fits to the generator's look.
* **Partial labels are handled in the loss, not by guessing labels.** On a real case the loss only
  asks "body or not body" (the probability of the body class against the sum of all others), and
  ignores the rows above T11 where bodies exist but are not outlined.
* **Contrast is randomised on top of the generator's own T1/T2/STIR:** random monotone and
  non-monotone intensity curves, gamma, bias field, noise, blur. The model must not learn "bright
  disc" as the definition of a disc, because degenerated discs and T1 images have dark ones.
* **Reproducible:** one seed drives numpy and torch; phantom seeds are drawn from a range reserved for
  training (see :data:`TRAIN_SEED_BASE`), so evaluation seeds can never overlap them.
* **Stages:** ``--init`` starts from earlier weights, so one phantom pre-training can be shared by the
  cross-validation folds (each fine-tuned without its own test cases) and the final model.
* **CPU or CUDA** (``--device``, ``auto`` by default): the batches are drawn and augmented on the CPU
  either way, from the same seeded generator, so a run draws the same samples on both. On the CPU a rerun
  gives the same weights bit for bit; CUDA's convolution kernels may sum in another order, so a GPU run
  is close to, not identical with, the CPU run of the same command.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import numpy as np
import torch
from numpy.typing import NDArray
from torch.nn import functional as F

from pipeline import labels as L
from pipeline.inference import ModelLoadError, resolve_device, save_weights
from pipeline.model import (
    BACKGROUND,
    BODY,
    C1,
    C2,
    CANAL,
    CLASSES,
    CORD,
    DEFAULT_NUM_CLASSES,
    DISC,
    POSTERIOR,
    RIB,
    SACRUM,
    ModelConfig,
    UNet2D,
)
from pipeline.preprocess import make_working_grid, working_image
from pipeline.provenance import library_versions
from pipeline.volume import Volume

log = logging.getLogger("pipeline.train")

REAL_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "real-lumbar-t2"
#: Phantom seeds used for training are ``TRAIN_SEED_BASE + n``; evaluation uses ``EVAL_SEED_BASE + n``.
TRAIN_SEED_BASE = 1_000_000
EVAL_SEED_BASE = 9_000_000
IGNORE = 255
#: Label of the posterior elements in the generator's maps (``pipeline.labels.POSTERIOR_ELEMENTS`` when
#: the shared scheme carries it); the node's output never contains it.
POSTERIOR_ELEMENTS = int(getattr(L, "POSTERIOR_ELEMENTS", 203))
REGIONS = ("lumbar", "thoracolumbar", "cervical", "whole")
CONTRASTS = ("T2", "T1", "STIR")


# --------------------------------------------------------------------------------------------- data


def label_to_class(labels: NDArray[np.integer]) -> NDArray[np.uint8]:
    """Map a full label map (VerSe numbering, discs, canal, cord) onto the network's classes."""
    lab = np.asarray(labels).astype(np.int32)
    out = np.zeros(lab.shape, dtype=np.uint8)
    vert = np.isin(lab, [k for k in L.VERTEBRA_NAMES if k not in (L.SACRUM, L.COCCYX)])
    out[vert] = BODY
    out[lab == L.VERTEBRA_LABELS["C2"]] = C2
    out[lab == L.VERTEBRA_LABELS["C1"]] = C1
    out[(lab == L.SACRUM) | (lab == L.COCCYX)] = SACRUM
    out[(lab > L.DISC_OFFSET) & (lab < L.DISC_OFFSET + 30)] = DISC
    out[lab == L.CANAL] = CANAL
    out[lab == L.CORD] = CORD
    out[lab == POSTERIOR_ELEMENTS] = POSTERIOR
    out[lab == L.RIB] = RIB
    return out


def _phantom_module() -> ModuleType | None:
    """The generator package, or None where it is not installed (training then uses real cases only)."""
    try:
        import pipeline.phantom as phantom
    except ImportError:
        return None
    return phantom


@dataclass
class Case:
    """One training series on the working grid: image, class targets, and what the targets cover."""

    name: str
    image: NDArray[np.float16]
    target: NDArray[np.uint8]
    """Class per voxel, or :data:`IGNORE`."""
    partial: bool
    """True for real cases: only body / not-body is known."""
    spine_slices: NDArray[np.intp] = field(default_factory=lambda: np.zeros(0, np.intp))
    focus_slices: dict[int, NDArray[np.intp]] = field(default_factory=dict)
    """Slices holding each rare class (C2, sacrum, cord), for focused sampling."""


#: Classes that are small or rare on a slice, and whose mistakes cost most in naming: a crop is centred
#: on one of them in a share of the phantom samples (``--focus``), as nnU-Net oversamples foreground.
FOCUS_CLASSES = (C2, SACRUM, CORD, C1, RIB)


def focus_index(target: NDArray[np.uint8]) -> dict[int, NDArray[np.intp]]:
    """Slices (axis 0) on which each :data:`FOCUS_CLASSES` member appears."""
    index = {}
    for cls in FOCUS_CLASSES:
        slices = np.nonzero((target == cls).any(axis=(1, 2)))[0]
        if len(slices):
            index[cls] = slices
    return index


def load_real_volume(case: str, root: Path = REAL_DATA) -> tuple[Volume, NDArray[np.uint8]]:
    """A real case as a :class:`Volume` in LPS (the NIfTI is RAS) with its body label map."""
    import nibabel as nib

    img = nib.load(str(root / f"{case}_t2.nii.gz"))
    lab = nib.load(str(root / f"{case}_vertebrae.nii.gz"))
    affine = img.affine
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    direction = np.diag([-1.0, -1.0, 1.0]) @ (affine[:3, :3] / spacing)
    origin = np.diag([-1.0, -1.0, 1.0]) @ affine[:3, 3]
    array = np.asarray(img.dataobj, dtype=np.float32)
    volume = Volume(array, tuple(spacing), direction, origin, contrast="T2")
    return volume, np.asarray(lab.dataobj).astype(np.uint8)


def real_case_names(root: Path = REAL_DATA) -> list[str]:
    manifest = json.loads((root / "manifest.json").read_text())
    return [m["case"] for m in manifest]


def cv_folds(names: list[str], k: int = 5) -> list[list[str]]:
    """Deterministic cross-validation folds: fold ``i`` holds ``sorted(names)[i::k]``."""
    ordered = sorted(names)
    return [ordered[i::k] for i in range(k)]


def prepare_real(case: str, spacing_mm: float, root: Path = REAL_DATA) -> Case:
    volume, labels = load_real_volume(case, root)
    grid = make_working_grid(volume, spacing_mm)
    image = working_image(volume, grid)
    lab = grid.to_working(labels, order=0)
    target = np.where(lab > 0, BODY, BACKGROUND).astype(np.uint8)
    # Rows above the top labelled body (T11) hold unlabelled T10, T9...: no supervision there.
    rows = np.nonzero((lab > 0).any(axis=(0, 2)))[0]
    if len(rows):
        top = max(0, int(rows.min()) - 3)
        target[:, :top, :] = IGNORE
    spine = np.nonzero((lab > 0).any(axis=(1, 2)))[0]
    return Case(case, image.astype(np.float16), target, True, spine)


def _draw(rng: np.random.Generator, options: tuple[str, ...], weights: list[float] | None) -> str:
    """One of ``options``; uniform unless weighted (the unweighted draw is kept so older runs replay)."""
    if weights is None:
        return str(rng.choice(options))
    p = np.asarray(weights, dtype=float)
    return str(rng.choice(options, p=p / p.sum()))


def prepare_phantom(
    seed: int,
    spacing_mm: float,
    rng: np.random.Generator,
    region_weights: list[float] | None = None,
    contrast_weights: list[float] | None = None,
    ribs: bool = False,
) -> Case:
    """One generated training series on the working grid; region and contrast drawn from the seed.

    The weights let a stage see more of what the evaluation finds weakest (STIR, whole-spine views);
    ``ribs`` draws the phantom with ribs (a network with the rib class, see ``--ribs``).
    """
    phantom = _phantom_module()
    if phantom is None:
        raise RuntimeError("pipeline.phantom is not available yet")
    region = _draw(rng, REGIONS, region_weights)
    contrast = _draw(rng, CONTRASTS, contrast_weights)
    # Half the phantoms draw every tissue's intensity freely (the generator's domain randomisation).
    free = bool(rng.random() < 0.5)
    pc = phantom.generate(seed, region=region, contrast=contrast, domain_randomisation=free, truth=False, ribs=ribs)
    grid = make_working_grid(pc.volume, spacing_mm)
    image = working_image(pc.volume, grid)
    target = label_to_class(grid.to_working(pc.labels, order=0))
    spine = np.nonzero(np.isin(target, (BODY, DISC, C2, SACRUM)).any(axis=(1, 2)))[0]
    name = f"phantom-{seed}-{region}-{contrast}{'-free' if free else ''}"
    return Case(name, image.astype(np.float16), target, False, spine, focus_index(target))


# ------------------------------------------------------------------------------------- augmentation


def random_intensity(x: NDArray[np.float32], rng: np.random.Generator, strength: float) -> NDArray[np.float32]:
    """Domain randomisation of contrast: remap intensities by random curves, then scanner-like noise."""
    if rng.random() < 0.35 * strength:
        # Random lookup curve through 6 control points: may swap which tissue is bright.
        xs = np.linspace(-0.2, 1.5, 6)
        ys = rng.uniform(0, 1, 6)
        if rng.random() < 0.5:
            ys = np.sort(ys)
        x = np.interp(x, xs, ys).astype(np.float32)
    if rng.random() < 0.5:
        x = np.clip(x, 0, None) ** rng.uniform(0.6, 1.6)
    if rng.random() < 0.4:
        h, w = x.shape
        yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
        field_ = 1 + rng.uniform(-0.3, 0.3) * (yy - 0.5) + rng.uniform(-0.3, 0.3) * (xx - 0.5)
        field_ += rng.uniform(-0.15, 0.15) * np.sin(np.pi * (yy + rng.uniform()))
        x = x * field_.astype(np.float32)
    if rng.random() < 0.3:
        from scipy.ndimage import gaussian_filter

        x = gaussian_filter(x, rng.uniform(0.3, 1.2)).astype(np.float32)
    if rng.random() < 0.5:
        x = x + rng.normal(0, rng.uniform(0.01, 0.08), x.shape).astype(np.float32)
    x = x * rng.uniform(0.8, 1.2) + rng.uniform(-0.1, 0.1)
    return x.astype(np.float32)


def sample_batch(
    cases: list[Case], n: int, crop: int, rng: np.random.Generator, strength: float = 1.0, focus: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random crops of random slices with geometric and intensity augmentation.

    With probability ``focus`` a sample is centred on a rare class (:data:`FOCUS_CLASSES`) of a case that
    has one: C2 is one small structure in a quarter of the phantoms and is otherwise hardly ever seen.
    Returns images ``(n,1,crop,crop)``, targets ``(n,crop,crop)`` and a partial-label flag per sample.
    """
    focusable = [c for c in cases if c.focus_slices]
    imgs = np.zeros((n, crop, crop), np.float32)
    tgts = np.full((n, crop, crop), IGNORE, np.uint8)
    partial = np.zeros(n, bool)
    for b in range(n):
        focus_class = None
        if focusable and rng.random() < focus:
            case = focusable[int(rng.integers(len(focusable)))]
            focus_class = int(rng.choice(sorted(case.focus_slices)))
            k = int(rng.choice(case.focus_slices[focus_class]))
        else:
            case = cases[int(rng.integers(len(cases)))]
            if len(case.spine_slices) and rng.random() < 0.85:
                k = int(rng.choice(case.spine_slices))
            else:
                k = int(rng.integers(case.image.shape[0]))
        img = case.image[k].astype(np.float32)
        tgt = case.target[k]
        # Crop centred near the spine when there is one on this slice (most of a real FOV is not spine).
        if focus_class is not None:
            spine = np.argwhere(tgt == focus_class)
        else:
            spine = np.argwhere((tgt != BACKGROUND) & (tgt != IGNORE))
        h, w = img.shape
        if len(spine) and (focus_class is not None or rng.random() < 0.8):
            cy, cx = spine[int(rng.integers(len(spine)))]
        else:
            cy, cx = rng.integers(h), rng.integers(w)
        cy += int(rng.integers(-crop // 4, crop // 4 + 1))
        cx += int(rng.integers(-crop // 4, crop // 4 + 1))
        y0, x0 = int(cy) - crop // 2, int(cx) - crop // 2
        ys = slice(max(0, y0), min(h, y0 + crop))
        xs = slice(max(0, x0), min(w, x0 + crop))
        sub_img = random_intensity(img[ys, xs], rng, strength)
        imgs[b, ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0] = sub_img
        tgts[b, ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0] = tgt[ys, xs]
        partial[b] = case.partial
    x = torch.from_numpy(imgs)[:, None]
    y = torch.from_numpy(tgts.astype(np.int64))
    x, y = _random_affine(x, y, rng)
    return x, y, torch.from_numpy(partial)


def _random_affine(x: torch.Tensor, y: torch.Tensor, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotation +-20 degrees, scale 0.8-1.25, anisotropic stretch: different anatomy sizes and FOVs."""
    n = x.shape[0]
    theta = np.zeros((n, 2, 3), np.float32)
    for b in range(n):
        a = np.radians(rng.uniform(-20, 20))
        s = rng.uniform(0.8, 1.25)
        sy = s * rng.uniform(0.9, 1.1)
        theta[b] = [[np.cos(a) / s, -np.sin(a) / s, 0], [np.sin(a) / sy, np.cos(a) / sy, 0]]
    grid = F.affine_grid(torch.from_numpy(theta), list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    y = F.grid_sample(y[:, None].float(), grid, mode="nearest", padding_mode="zeros", align_corners=False)
    # Outside the source crop the target is unknown, not background.
    inside = F.grid_sample(torch.ones_like(x), grid, mode="nearest", padding_mode="zeros", align_corners=False)
    y = torch.where(inside[:, 0] > 0.5, y[:, 0], torch.full_like(y[:, 0], IGNORE)).long()
    return x, y


# --------------------------------------------------------------------------------------------- loss


def partial_label_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    partial: torch.Tensor,
    class_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Cross-entropy + soft Dice on fully labelled samples; body-vs-rest on partially labelled ones.

    ``class_weights`` raise the cross-entropy of rare classes (C2 is one small structure per cervical
    series and is otherwise learned last).
    """
    losses = []
    valid = target != IGNORE
    if (~partial).any():
        lg, tg, vm = logits[~partial], target[~partial], valid[~partial]
        n = lg.shape[1]
        ce = F.cross_entropy(lg, tg.clamp(max=n - 1), weight=class_weights, reduction="none")
        losses.append((ce * vm).sum() / vm.sum().clamp(min=1))
        prob = torch.softmax(lg, 1)
        onehot = F.one_hot(tg.clamp(max=n - 1), n).permute(0, 3, 1, 2).float()
        m = vm[:, None].float()
        inter = (prob * onehot * m).sum((0, 2, 3))
        denom = ((prob + onehot) * m).sum((0, 2, 3))
        present = onehot.mul(m).sum((0, 2, 3)) > 0
        dice = (2 * inter + 1) / (denom + 1)
        losses.append((1 - dice[1:][present[1:]]).mean() if present[1:].any() else lg.sum() * 0)
    if partial.any():
        lg, tg, vm = logits[partial], target[partial], valid[partial]
        logp = torch.log_softmax(lg, 1)
        log_body = logp[:, BODY]
        log_rest = torch.logsumexp(torch.cat([logp[:, :BODY], logp[:, BODY + 1 :]], 1), 1)
        is_body = tg == BODY
        nll = -torch.where(is_body, log_body, log_rest)
        losses.append((nll * vm).sum() / vm.sum().clamp(min=1))
        pb = log_body.exp() * vm
        tb = is_body.float() * vm
        losses.append(1 - (2 * (pb * tb).sum() + 1) / (pb.sum() + tb.sum() + 1))
    return sum(losses) / max(1, len(losses) // 2)  # type: ignore[return-value]


# -------------------------------------------------------------------------------------------- train


#: A class added to an older network starts as a copy of this one's output, lowered by this many logits:
#: C1 sits beside C2 and shares its features, and starts out losing to every class it is not yet told from;
#: a rib is bone behind the body, as the posterior elements are.
NEW_CLASS_SOURCE = {C1: C2, RIB: POSTERIOR}
NEW_CLASS_OFFSET = 3.0


def widen_head(state: dict[str, torch.Tensor], num_classes: int) -> dict[str, torch.Tensor]:
    """Weights of an older network with fewer output classes, given the head a network of ``num_classes`` has.

    Why: a fine-tuning stage that adds a class (C1) keeps everything the earlier stages learned; only the
    new output channel is new. The channel starts from a related class (:data:`NEW_CLASS_SOURCE`), lowered so
    that the first steps do not take voxels from any class it is not.
    """
    weight, bias = state["head.weight"], state["head.bias"]
    have = weight.shape[0]
    if have >= num_classes:
        return state
    extra_w, extra_b = [], []
    for cls in range(have, num_classes):
        source = NEW_CLASS_SOURCE.get(cls, BACKGROUND)
        extra_w.append(weight[source : source + 1].clone())
        extra_b.append(bias[source : source + 1].clone() - NEW_CLASS_OFFSET)
    out = dict(state)
    out["head.weight"] = torch.cat([weight, *extra_w])
    out["head.bias"] = torch.cat([bias, *extra_b])
    return out


def training_device(name: str) -> torch.device:
    """The device ``--device`` names (``auto``: the first CUDA GPU when there is one, else the CPU).

    Why a separate message: asking for CUDA on a machine without it must stop before the data is drawn
    (a minute of work), and say which option to change.
    """
    try:
        return resolve_device(name)
    except ModelLoadError:
        raise SystemExit(f"--device {name}: no CUDA GPU is available here; use --device auto or cpu") from None


def train(args: argparse.Namespace) -> dict:
    device = training_device(getattr(args, "device", "cpu"))
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    torch.manual_seed(args.seed)
    if device.type == "cuda":
        # cuDNN's autotuner picks kernels by timing them, run to run: keep the choice fixed.
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    n_classes = len(CLASSES) if getattr(args, "ribs", False) else DEFAULT_NUM_CLASSES
    config = ModelConfig(widths=tuple(args.widths), spacing_mm=args.spacing, num_classes=n_classes,
                         classes=CLASSES[:n_classes])
    if args.class_weights and len(args.class_weights) != n_classes:
        raise SystemExit(f"--class-weights needs {n_classes} values ({', '.join(CLASSES[:n_classes])}), "
                         f"got {len(args.class_weights)}")
    t0 = time.time()

    real_names = real_case_names() if args.real else []
    excluded = set(args.exclude or [])
    if args.cv_fold is not None:
        excluded |= set(cv_folds(real_names)[args.cv_fold])
    real_names = [c for c in real_names if c not in excluded]
    reals = [prepare_real(c, config.spacing_mm) for c in real_names]
    phantoms: list[Case] = []
    phantom_seeds = [TRAIN_SEED_BASE + args.phantom_offset + i for i in range(args.phantoms)]
    if args.phantoms and _phantom_module() is None:
        log.warning("pipeline.phantom not importable: training on real cases only")
        phantom_seeds = []
    for s in phantom_seeds:
        rng_s = np.random.default_rng(s)
        phantoms.append(
            prepare_phantom(
                s, config.spacing_mm, rng_s, args.region_weights, args.contrast_weights, getattr(args, "ribs", False)
            )
        )
    log.info("data ready: %d real, %d phantoms in %.0f s", len(reals), len(phantoms), time.time() - t0)

    net = UNet2D(config)
    if args.init:
        payload = torch.load(args.init, map_location="cpu", weights_only=True)
        net.load_state_dict(widen_head({k: v.float() for k, v in payload["state_dict"].items()}, config.num_classes))
    net = net.to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    class_weights = torch.tensor(args.class_weights, dtype=torch.float32, device=device) if args.class_weights else None
    n_real = args.batch // 3 if reals and phantoms else (args.batch if reals else 0)
    n_phantom = args.batch - n_real
    deadline = t0 + args.max_minutes * 60
    step = 0
    history: list[tuple[int, float]] = []
    running = None
    net.train()
    while step < args.steps and time.time() < deadline:
        lr = args.lr * 0.5 * (1 + math.cos(math.pi * step / args.steps))
        for g in opt.param_groups:
            g["lr"] = lr
        parts = []
        if n_real:
            parts.append(sample_batch(reals, n_real, args.crop, rng))
        if n_phantom and phantoms:
            parts.append(sample_batch(phantoms, n_phantom, args.crop, rng, strength=0.6, focus=args.focus))
        x = torch.cat([p[0] for p in parts]).to(device)
        y = torch.cat([p[1] for p in parts]).to(device)
        partial = torch.cat([p[2] for p in parts]).to(device)
        loss = partial_label_loss(net(x), y, partial, class_weights)
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss = loss.detach()
        running = float(loss) if running is None else 0.98 * running + 0.02 * float(loss)
        step += 1
        if step % 50 == 0:
            history.append((step, round(running, 4)))
            log.info("step %d loss %.4f lr %.2e %.0f s", step, running, lr, time.time() - t0)
        if args.checkpoint_every and step % args.checkpoint_every == 0:
            # A usable intermediate file, so a later stage can start before this one ends.
            save_weights(net, Path(args.out).with_suffix(".ckpt.pt"), {"version": f"{args.version}-step{step}"})
    duration = time.time() - t0
    meta = {
        "version": args.version,
        "trained_steps": step,
        "planned_steps": args.steps,
        "duration_s": round(duration, 1),
        "command": args.command_line,
        "seed": args.seed,
        "config": {k: v for k, v in vars(args).items() if k != "command_line"},
        "data": {
            "real_cases": real_names,
            "real_source": "Chu et al., PLoS ONE 10(11) 2015, Zenodo record 22304 (CC-BY)",
            "phantom_seeds": [phantom_seeds[0], phantom_seeds[-1]] if phantom_seeds else [],
            "phantom_count": len(phantom_seeds),
            "phantom_cases": [c.name for c in phantoms],
        },
        "loss_history": history,
        "torch": torch.__version__,
        "platform": platform.platform(),
        "libraries": library_versions(),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
    }
    meta = save_weights(net, Path(args.out), meta)
    log.info("wrote %s (sha256 %s) after %d steps in %.0f s", args.out, meta["sha256"], step, duration)
    return meta


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pipeline.train", description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="weights file to write (a .json sidecar goes beside it)")
    p.add_argument("--init", default=None, help="start from these weights (fine-tuning stage)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--max-minutes", type=float, default=60.0, help="stop early at this wall time")
    p.add_argument("--batch", type=int, default=12)
    p.add_argument("--crop", type=int, default=160)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--spacing", type=float, default=1.25)
    p.add_argument("--widths", type=int, nargs="+", default=[16, 32, 64, 96, 128])
    p.add_argument("--phantoms", type=int, default=48, help="number of training phantoms")
    p.add_argument("--phantom-offset", type=int, default=0)
    p.add_argument("--no-real", dest="real", action="store_false", help="phantoms only")
    p.add_argument("--exclude", nargs="*", help="real cases to leave out (cross-validation)")
    p.add_argument("--cv-fold", type=int, default=None, help="leave out this fold (0..4) of the real cases")
    p.add_argument("--checkpoint-every", type=int, default=0, help="also save OUT.ckpt.pt every N steps")
    p.add_argument(
        "--class-weights", type=float, nargs="+", default=None,
        help=f"CE weights, one per class: {CLASSES[:DEFAULT_NUM_CLASSES]} (and 'rib' with --ribs)",
    )
    p.add_argument(
        "--ribs", action="store_true",
        help="phantoms drawn with ribs, and a network with the rib class (widened from --init if it has none)",
    )
    p.add_argument("--region-weights", type=float, nargs=len(REGIONS), default=None, help=f"draw {REGIONS} by weight")
    p.add_argument(
        "--contrast-weights", type=float, nargs=len(CONTRASTS), default=None, help=f"draw {CONTRASTS} by weight"
    )
    p.add_argument("--threads", type=int, default=1, help="CPU threads (augmentation, and the network on the CPU)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")
    p.add_argument("--focus", type=float, default=0.0, help="share of phantom crops centred on C2/sacrum/cord")
    p.add_argument("--version", default="dev")
    return p


def main(argv: list[str] | None = None) -> None:
    import sys

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args = build_parser().parse_args(argv)
    args.command_line = "python -m pipeline.train " + " ".join(argv if argv is not None else sys.argv[1:])
    train(args)


if __name__ == "__main__":
    main()
