"""``python -m pipeline.grading.calibrate``: fit the Pfirrmann classifier on phantom truth.

Draws T2 phantoms from :data:`pipeline.grading.evaluate.CALIBRATION_SEEDS` (lumbar and thoracolumbar
alternating, default generator options), reads each disc's signal features from the TRUE label map,
fits :func:`pipeline.grading.pfirrmann.fit` and writes ``pfirrmann_model.json`` with the seeds in its
provenance. The evaluation refuses these seeds, so its figures are on held-out series.
"""

from __future__ import annotations

import argparse
import sys
import time
from multiprocessing import get_context

import numpy as np

from pipeline.grading import pfirrmann
from pipeline.grading.evaluate import CALIBRATION_SEEDS, analysis_from_labels
from pipeline.grading.grade import pfirrmann_features


def case_features(args: tuple[int, int]) -> list[tuple[list[float], int, str]]:
    from pipeline.phantom import generate

    index, seed = args
    region = "lumbar" if index % 2 == 0 else "thoracolumbar"
    case = generate(seed, region=region, contrast="T2")
    analysis = analysis_from_labels(case.volume, case.labels, case.truth["discs"])
    out = []
    vectors = pfirrmann_features(case.volume, case.labels, analysis.levels)
    for truth, level, x in zip(case.truth["discs"], analysis.levels, vectors, strict=True):
        if x is not None:
            out.append((x.tolist(), int(truth["pfirrmann"]), level.level))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.grading.calibrate", description=__doc__)
    parser.add_argument("--count", type=int, default=len(CALIBRATION_SEEDS))
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args(argv)
    seeds = list(enumerate(CALIBRATION_SEEDS))[: args.count]
    started = time.perf_counter()
    rows: list[tuple[list[float], int, str]] = []
    with get_context("spawn").Pool(min(max(args.processes, 1), 2)) as pool:
        for done, part in enumerate(pool.imap_unordered(case_features, seeds), 1):
            rows += part
            if done % 20 == 0:
                print(f"  {done}/{len(seeds)} ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
    x = np.array([r[0] for r in rows])
    y = np.array([r[1] for r in rows])
    from pipeline.phantom import GENERATOR_VERSION

    provenance = {
        "generator_version": GENERATOR_VERSION,
        "seeds": [seeds[0][1], seeds[-1][1]],
        "regions": "lumbar/thoracolumbar alternating",
        "contrast": "T2",
        "discs": len(y),
        "grade_counts": np.bincount(y, minlength=6)[1:].tolist(),
    }
    model = pfirrmann.fit(x, y, provenance=provenance)
    predicted = model.probabilities(x).argmax(axis=1) + 1
    print(
        f"fitted on {len(y)} discs from seeds {seeds[0][1]}..{seeds[-1][1]}: training exact "
        f"{100 * np.mean(predicted == y):.1f} %, within one {100 * np.mean(abs(predicted - y) <= 1):.1f} %"
    )
    pfirrmann.save(model)
    np.savez("/tmp/pfirrmann_features.npz", x=x, y=y)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
