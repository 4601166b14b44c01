"""Speed and memory of ``pipeline.analyse`` on clinical matrix sizes: ``python bench/inference_speed.py``.

Targets (issue 5): a 15 x 512 x 512 lumbar series in <= 20 s on the 2-core CPU, and <= 2 GB peak
memory for 25 x 640 x 640, both with the default second network pass (``pipeline.fine_pass``); the
15 x 512 x 512 series is also timed without it. Each measurement runs in a fresh process so the peak
resident memory is that of one analysis (torch and the model included), as in a worker. The input is a
real lumbar T2 case re-sliced to 4 mm sagittal slices and upsampled in-plane to the clinical matrix, so
the analysis does its real work (instances, naming), not a blank image.

The table also gives a *reference*: the time of a fixed matrix-multiplication workload measured in the
same run, and each timing as a ratio to it, so figures from different machines can be compared.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.volume import Volume

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _reference_seconds() -> float:
    """A fixed CPU workload (float32 matmuls on the configured threads), best of three."""
    import torch

    a = torch.randn(1024, 1024)
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(20):
            a @ a
        best = min(best, time.perf_counter() - t)
    return best


def _make_volume(slices: int, matrix: int) -> Volume:
    import numpy as np
    from scipy import ndimage

    from pipeline.train import load_real_volume
    from pipeline.volume import Volume

    vol, _ = load_real_volume("VB2_02")
    arr = np.asarray(vol.array, np.float32)
    centre = arr.shape[0] // 2
    picks = np.clip(centre + 4 * (np.arange(slices) - slices // 2), 0, arr.shape[0] - 1)
    stack = arr[picks]
    zoom = matrix / stack.shape[1]
    stack = ndimage.zoom(stack, (1, zoom, matrix / stack.shape[2]), order=1).astype(np.float32)
    spacing = (4.0, vol.spacing[1] / zoom, vol.spacing[2] / zoom)
    return Volume(stack, spacing, vol.direction, vol.origin, contrast="T2")


def _child(slices: int, matrix: int, threads: int, device: str, fine_pass: bool) -> None:
    import torch

    torch.set_num_threads(threads)
    from pipeline.analyse import analyse
    from pipeline.inference import get_model

    volume = _make_volume(slices, matrix)
    t = time.perf_counter()
    model = get_model(device=device)
    load_s = time.perf_counter() - t
    t = time.perf_counter()
    result = analyse(volume, model, fine_pass=fine_pass)
    seconds = time.perf_counter() - t
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {
        "seconds": seconds,
        "load_s": load_s,
        "peak_mb": peak_mb,
        "vertebrae": len(result.vertebrae),
        "reference_s": _reference_seconds(),
    }
    print("RESULT " + json.dumps(out))


def _run(slices: int, matrix: int, threads: int, device: str, fine_pass: bool = True) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        f"{slices}x{matrix}",
        "--threads",
        str(threads),
        "--device",
        device,
        *([] if fine_pass else ["--no-fine-pass"]),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[7:])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--no-fine-pass", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        s, m = (int(x) for x in args.child.split("x"))
        _child(s, m, args.threads, args.device, not args.no_fine_pass)
        return
    speed = _run(15, 512, args.threads, args.device)
    coarse = _run(15, 512, args.threads, args.device, fine_pass=False)
    memory = _run(25, 640, args.threads, args.device)
    ref = speed["reference_s"]
    rows = [
        ("reference workload (20 x 1024^2 matmul)", f"{ref:.2f} s", "1.0", ""),
        ("analyse 15 x 512 x 512", f"{speed['seconds']:.1f} s", f"{speed['seconds'] / ref:.1f}", "<= 20 s"),
        ("  without the fine pass", f"{coarse['seconds']:.1f} s", f"{coarse['seconds'] / ref:.1f}", ""),
        ("  model load (once per worker)", f"{speed['load_s']:.2f} s", "", ""),
        ("  peak memory 15 x 512 x 512", f"{speed['peak_mb']:.0f} MB", "", ""),
        ("analyse 25 x 640 x 640", f"{memory['seconds']:.1f} s", f"{memory['seconds'] / ref:.1f}", ""),
        ("  peak memory 25 x 640 x 640", f"{memory['peak_mb']:.0f} MB", "", "<= 2048 MB"),
    ]
    print(f"device {args.device}, {args.threads} threads")
    print(f"| {'measurement':<40} | {'value':>10} | {'x ref':>6} | {'target':>10} |")
    print(f"|{'-' * 42}|{'-' * 12}|{'-' * 8}|{'-' * 12}|")
    for a, b, c, d in rows:
        print(f"| {a:<40} | {b:>10} | {c:>6} | {d:>10} |")


if __name__ == "__main__":
    main()
