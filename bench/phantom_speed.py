"""Time one lumbar T2 phantom series on one core, against references measured in the same run.

Usage: ``.venv/bin/python bench/phantom_speed.py [--repeat N] [--seed S]``. Target (issue 4): a lumbar
T2 series in under 2 s on one core. The references put the number in proportion on whatever machine
runs it: ``numpy baseline`` is one float32 multiply-add pass over a 512 x 512 x 15 array repeated 50
times, ``write DICOM`` writes the same series' files (pydicom) without generating anything.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dicomnode.phantom_dicom import write_case  # noqa: E402
from pipeline.phantom import generate  # noqa: E402


def _numpy_baseline() -> float:
    a = np.ones((15, 512, 512), dtype=np.float32)
    start = time.perf_counter()
    for _ in range(50):
        a = a * np.float32(1.0001) + np.float32(0.5)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    generate(args.seed)  # warm-up (imports, caches)
    rows = []
    times, shapes = [], []
    for k in range(args.repeat):
        start = time.perf_counter()
        case = generate(args.seed + k)
        times.append(time.perf_counter() - start)
        shapes.append(case.volume.shape)
    fixed = []
    for k in range(args.repeat):
        start = time.perf_counter()
        generate(args.seed + k, matrix=512, n_slices=15, slice_thickness=4.0)
        fixed.append(time.perf_counter() - start)
    no_truth = []
    for k in range(args.repeat):
        start = time.perf_counter()
        generate(args.seed + k, truth=False)
        no_truth.append(time.perf_counter() - start)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        write_case(case, Path(tmp))
        write = time.perf_counter() - start
    baseline = _numpy_baseline()
    rows.append(("generate lumbar T2 (random geometry)", statistics.median(times)))
    rows.append(("generate lumbar T2, 15 x 512 x 512", statistics.median(fixed)))
    rows.append(("generate lumbar T2 without truth", statistics.median(no_truth)))
    rows.append(("write DICOM + NIfTI + truth (one case)", write))
    rows.append(("numpy baseline (50 passes, 15x512x512)", baseline))
    print(f"one core, {args.repeat} repeats, seeds {args.seed}..{args.seed + args.repeat - 1}")
    print(f"shapes: {sorted(set(shapes))}")
    print(f"{'step':44s} {'seconds':>8s} {'x baseline':>11s}")
    for name, seconds in rows:
        print(f"{name:44s} {seconds:8.3f} {seconds / baseline:11.2f}")
    print(f"target < 2 s per lumbar T2 series: {'met' if statistics.median(times) < 2.0 else 'NOT met'}")


if __name__ == "__main__":
    main()
