"""Batch judging: judgments per second in one process and on Ray, against the bare OCR engine.

    python benchmarks/batch.py [--images 64] [--workers 2] [--no-ray]

The images are signs rendering the target texts of Flow-GRPO OCR prompts (from ../shared/data when
present), written to a folder and listed in a JSONL manifest, as a user's dataset would be. Printed:
1. the bare OCR engine on the same images, one process, one at a time: the baseline;
2. `run_batch` in one process (concurrency = workers), its ratio to the engine;
3. `judge_on_ray` with `--workers` actors on a local Ray instance started for the run: the wall time
   with Ray's start, the time from the first result to the last (steady state), the scaling against
   one process (ideal: the number of workers, given that many free cores), and the per-item
   overhead of the Ray path in CPU-seconds: `workers × ray_steady / n − single_cpu / n`.
   The engine runs its own threads, so on a machine with as many cores as workers one process
   already keeps the cores busy and Ray cannot scale there; the scaling is real across machines.
Each path judges into its own fresh store with the verdict cache off.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "flow_grpo_ocr_prompts" / "prompts.txt"


def write_dataset(folder: Path, n: int) -> Path:
    from scrutiny.testing.scenes import fitted_sign
    from scrutiny.tools.text_match import flow_grpo_target

    lines = DATA.read_text().splitlines() if DATA.exists() else []
    pairs = [(line, flow_grpo_target(line)) for line in lines]
    pairs = [(p, t) for p, t in pairs if t and 4 <= len(t) <= 24] or [
        (f'A sign that says "SALE {i}"', f"SALE {i}") for i in range(n)
    ]
    manifest = folder / "items.jsonl"
    with manifest.open("w") as f:
        for k in range(n):
            prompt, text = pairs[k % len(pairs)]
            fitted_sign(text).save(folder / f"{k}.png")
            f.write(json.dumps({"id": str(k), "image": f"{k}.png", "prompt": prompt}) + "\n")
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-ray", action="store_true")
    args = parser.parse_args()

    from PIL import Image

    from scrutiny import Judge, JudgeConfig, Store
    from scrutiny.batch import read_items, run_batch
    from scrutiny.tools.ocr import ocr_engine

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        manifest = write_dataset(tmp, args.images)
        items = read_items([str(manifest)])
        n = len(items)

        engine = ocr_engine()
        arrays = [np.ascontiguousarray(np.asarray(Image.open(i.image).convert("RGB"))[:, :, ::-1]) for i in items]
        engine(arrays[0])
        cpu0, start = time.process_time(), time.perf_counter()
        for array in arrays:
            engine(array)
        engine_s, engine_cpu = time.perf_counter() - start, time.process_time() - cpu0

        judge = Judge(store=Store(home=tmp / "one"), config=JudgeConfig(cache=False, concurrency=args.workers))
        judge.judge(items[0].image, "warm up")
        cpu0, start = time.process_time(), time.perf_counter()
        run_batch(judge, items, tmp / "one.jsonl", run_id="one")
        single_s, single_cpu = time.perf_counter() - start, time.process_time() - cpu0

        print(f"{n} images; {os.cpu_count()} cores")
        print(
            f"bare OCR engine, one at a time: {n / engine_s:7.2f} images/s   "
            f"(it keeps {engine_cpu / engine_s:.1f} cores busy: ONNX Runtime's own threads)"
        )
        print(
            f"one process (concurrency {args.workers}):   {n / single_s:7.2f} judgments/s   "
            f"ratio to engine {engine_s / single_s:.3f}"
        )
        if args.no_ray:
            return
        from scrutiny.distributed import JudgeSpec, judge_on_ray

        os.environ["SCRUTINY_HOME"] = str(tmp / "ray")
        stamps: list[float] = []
        start = time.perf_counter()
        judge_on_ray(
            JudgeSpec(config={"cache": False, "concurrency": 1}),
            items,
            tmp / "ray.jsonl",
            run_id="ray",
            workers=args.workers,
            batch_size=4,
            on_done=lambda: stamps.append(time.perf_counter()),
        )
        ray_s = time.perf_counter() - start
        steady = stamps[-1] - stamps[0]
        per_item = steady / max(n - 1, 1)
        same = _scores(tmp / "one.jsonl") == _scores(tmp / "ray.jsonl")
        print(
            f"Ray, {args.workers} workers:              {n / ray_s:7.2f} judgments/s with Ray's start "
            f"({ray_s:.1f} s), {1 / per_item:7.2f}/s from first result to last"
        )
        print(
            f"  scaling against one process: {(single_s / n) / per_item:.2f}x (ideal {args.workers}x); "
            f"per-item overhead of the Ray path {args.workers * per_item - single_cpu / n:+.3f} CPU-s; "
            f"same scores as one process: {same}"
        )


def _scores(path: Path) -> dict:
    from scrutiny.batch import load_results

    return {r["id"]: r["score"] for r in load_results(path)}


if __name__ == "__main__":
    main()
