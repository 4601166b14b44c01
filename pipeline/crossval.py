"""Real-case cross-validation in one command: train the five fold models, then score them.

``python -m pipeline.crossval --out DIR --seed N [--parallel 2] [--slice-mm 4] -- TRAINING OPTIONS``

The options after ``--`` go to every fold's ``python -m pipeline.train``; the runner adds ``--out
DIR/fold{k}.pt``, ``--cv-fold k``, ``--seed N`` and ``--version``. When every fold is trained, the fold
models are scored on their own held-out cases (``python -m pipeline.evaluate --cv-weights``); the table is
printed and the per-case scores are written to ``DIR/cv.json``.

Why a runner: the model card's CV figure needs five training runs and one evaluation. Run by hand, a fold
trained with other options, or a stale file from an earlier run, slips in unnoticed. Here every fold's
command is built from the same options. A fold whose sidecar records exactly its command is kept, so a
rerun after a crash or a stop trains only the folds that are missing; a fold with any other sidecar is
trained again.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import time
from pathlib import Path

from pipeline import evaluate
from pipeline.inference import sidecar_path

log = logging.getLogger("pipeline.crossval")

FOLDS = 5
#: Options the runner sets for each fold; given after ``--`` they would silently make the folds alike.
RESERVED = ("--out", "--cv-fold", "--seed", "--version", "--exclude")


def fold_argv(out: Path, fold: int, seed: int, training: list[str]) -> list[str]:
    """The ``pipeline.train`` arguments of one fold."""
    return [
        "--out", str(out / f"fold{fold}.pt"), "--cv-fold", str(fold), "--seed", str(seed),
        "--version", f"cv-seed{seed}-fold{fold}", *training,
    ]  # fmt: skip


def already_trained(out: Path, fold: int, argv: list[str]) -> bool:
    """True when ``fold``'s weights exist and their sidecar records this very command."""
    weights = out / f"fold{fold}.pt"
    side = sidecar_path(weights)
    if not (weights.is_file() and side.is_file()):
        return False
    try:
        command = json.loads(side.read_text()).get("command")
    except json.JSONDecodeError:
        return False
    return command == "python -m pipeline.train " + " ".join(argv)


def train_folds(out: Path, folds: list[int], seed: int, training: list[str], parallel: int) -> None:
    """Train the folds that are missing, ``parallel`` at a time; stop at the first that fails."""
    out.mkdir(parents=True, exist_ok=True)
    todo = []
    for k in folds:
        argv = fold_argv(out, k, seed, training)
        if already_trained(out, k, argv):
            log.info("fold %d: kept %s (trained by this command)", k, out / f"fold{k}.pt")
        else:
            todo.append((k, argv))
    running: list[tuple[int, subprocess.Popen[bytes], Path]] = []
    while todo or running:
        while todo and len(running) < max(1, parallel):
            k, argv = todo.pop(0)
            log_path = out / f"fold{k}.log"
            log.info("fold %d: training (log %s)", k, log_path)
            with open(log_path, "wb") as fh:
                proc = subprocess.Popen([sys.executable, "-m", "pipeline.train", *argv], stdout=fh, stderr=fh)
            running.append((k, proc, log_path))
        k, proc, log_path = running.pop(0)
        if proc.wait() != 0:
            for _, other, _ in running:
                other.terminate()
            raise SystemExit(f"fold {k} training failed (exit {proc.returncode}); see {log_path}")
        log.info("fold %d: done", k)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pipeline.crossval", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="folder for fold{k}.pt, their logs and cv.json")
    p.add_argument("--seed", type=int, required=True, help="training seed of every fold")
    p.add_argument("--folds", type=int, nargs="+", default=list(range(FOLDS)), choices=range(FOLDS))
    p.add_argument("--parallel", type=int, default=1, help="folds trained at once (one per core or GPU)")
    p.add_argument("--slice-mm", type=float, default=None, help="score on slices this thick (evaluate --slice-mm)")
    p.add_argument("--device", default="cpu", help="device of the evaluation")
    p.add_argument("--threads", type=int, default=1, help="CPU threads of the evaluation")
    p.add_argument("--cache", type=Path, default=None, help="keep the fold models' probabilities here")
    p.add_argument("training", nargs=argparse.REMAINDER, help="-- then the options of python -m pipeline.train")
    return p


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args = build_parser().parse_args(argv)
    training = args.training[1:] if args.training[:1] == ["--"] else args.training
    clash = sorted({a.split("=")[0] for a in training} & set(RESERVED))
    if clash:
        raise SystemExit(f"{', '.join(clash)}: set by the runner for each fold; leave out of the training options")
    t0 = time.time()
    train_folds(args.out, args.folds, args.seed, training, args.parallel)
    log.info("trained in %.0f s; scoring", time.time() - t0)
    scoring = ["--phantoms", "0", "--cv-weights", str(args.out / "fold{k}.pt"), "--json", str(args.out / "cv.json"),
               "--device", args.device, "--threads", str(args.threads), "--folds", *map(str, args.folds)]  # fmt: skip
    if args.slice_mm:
        scoring += ["--slice-mm", f"{args.slice_mm:g}"]
    if args.cache is not None:
        scoring += ["--cache", str(args.cache)]
    evaluate.main(scoring)


if __name__ == "__main__":
    main()
