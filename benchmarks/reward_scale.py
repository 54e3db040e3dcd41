"""What one offline judgment costs, by prompt kind and by image size, against the engines it must run.

    python benchmarks/reward_scale.py [--images 8] [--sizes 512,1024] [--memory 512,1024,2048,4096]

1. Per kind (text, objects, colours, positions, edits) and size: milliseconds per judgment (cache
   off, one at a time, a fresh store on disk as a user has) and the ratio to the engines the kind
   cannot do without, timed on the same images in the same run: the OCR engine for text (and for
   both images of an edit), one pass of the COCO detector for objects, colours and positions.
   A ratio of 1 would be a judge that adds nothing to its engines.
2. Per image size, in a fresh process each: seconds and peak memory added by judging one photo of
   that size (after a warm-up judgment at 256 px), in bytes per pixel of the image given. Judging
   works on a copy at most `JudgeConfig.max_side` (2048) a side, so both should flatten above it
   (aims, issue 30: at most 20 bytes per pixel; time nearly flat above the working size). Each size
   is measured twice: with glibc's default malloc arenas (one per thread that allocates, as in a
   library user's process) and with two, as scrutiny's own commands run (`scrutiny.core.malloc`).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

from scrutiny import Judge, JudgeConfig, Store
from scrutiny.testing.scenes import storefront
from scrutiny.tools.base import keep_tool_results

PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "real_photos"
WORDS = ["OPEN", "BAKERY", "HOTEL", "PHARMACY", "BOOKS", "CAFE", "EXIT", "SALE"]
OBJECTS = ["a photo of a person and a car", "a photo of a dog and a chair", "a photo of two people"]
COLOURS = ["a photo of a red car and a blue bicycle", "a photo of a white dog", "a photo of a green bench"]
POSITIONS = ["a photo of a person left of a car", "a photo of a dog right of a chair", "a photo of a cup above a table"]


def photos(n: int, size: int) -> list[Image.Image]:
    files = sorted(PHOTOS.glob("*.jpg"))[:n] if PHOTOS.exists() else []
    if not files:  # without the shared data: scenes with texture
        return [storefront("", size=size, seed=k) for k in range(n)]
    return [Image.open(f).convert("RGB").resize((size, size), Image.Resampling.LANCZOS) for f in files]


def cases(kind: str, n: int, size: int) -> list[tuple[dict, list]]:
    """(judge arguments, engine inputs) per image of a kind."""
    if kind == "text":
        signs = [(storefront(WORDS[k % 8], size=size, seed=k), WORDS[k % 8]) for k in range(n)]
        return [({"image": im, "prompt": f'A storefront sign that says "{w}"'}, [("ocr", im)]) for im, w in signs]
    if kind == "edits":
        out = []
        for k in range(n):
            source, edited = storefront("OPEN", size=size, seed=k), storefront(WORDS[k % 8], size=size, seed=k)
            args = {"image": edited, "prompt": f'Change the sign to say "{WORDS[k % 8]}"', "source": source}
            out.append((args, [("ocr", source), ("ocr", edited)]))
        return out
    prompts = {"objects": OBJECTS, "colours": COLOURS, "positions": POSITIONS}[kind]
    return [({"image": im, "prompt": prompts[k % 3]}, [("detect", im)]) for k, im in enumerate(photos(n, size))]


def engines():
    from scrutiny.tools.coco import CocoDetector
    from scrutiny.tools.ocr import run_engine

    detector = CocoDetector()
    return {
        "ocr": lambda im: run_engine(np.ascontiguousarray(np.asarray(im)[:, :, ::-1])),
        "detect": lambda im: detector.detect(im, None),
    }


def per_kind(n: int, sizes: list[int]) -> None:
    run = engines()
    with tempfile.TemporaryDirectory() as home:
        judge = Judge(store=Store(home=home), config=JudgeConfig(cache=False, concurrency=1))
        judge.judge(storefront("OPEN", size=256), 'A sign that says "OPEN"')  # warm: every engine loaded
        judge.judge(photos(1, 256)[0], OBJECTS[0])
        print(f"{'kind':10s} {'size':>5s} {'judge ms':>9s} {'engines ms':>11s} {'ratio':>6s}")
        for size in sizes:
            for kind in ("text", "objects", "colours", "positions", "edits"):
                judged = engine = 0.0
                for args, inputs in cases(kind, n, size):  # interleaved, so machine noise hits both
                    started = time.perf_counter()
                    for name, image in inputs:
                        run[name](image)
                    engine += time.perf_counter() - started
                    started = time.perf_counter()
                    if "source" in args:
                        judge.edit(args["source"], args["image"], args["prompt"])
                    else:
                        judge.judge(args["image"], args["prompt"])
                    judged += time.perf_counter() - started
                print(f"{kind:10s} {size:5d} {judged / n * 1000:9.1f} {engine / n * 1000:11.1f} {engine / judged:6.3f}")


def rss() -> int:
    """This process's resident memory now, in bytes (Linux)."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize()


def one_size(size: int) -> dict:
    """Judge one photo of `size` in this process (fresh): seconds, and the peak resident memory above
    what the process held just before (sampled every 2 ms while judging)."""
    with tempfile.TemporaryDirectory() as home:
        judge = Judge(store=Store(home=home), config=JudgeConfig(cache=False))
        judge.judge(photos(1, 256)[0], COLOURS[0])  # engines loaded, at a small size
        image = photos(1, size)[0]
        before, peak, done = rss(), [0], threading.Event()

        def watch() -> None:
            while not done.wait(0.002):
                peak[0] = max(peak[0], rss())

        watcher = threading.Thread(target=watch)
        watcher.start()
        started = time.perf_counter()
        judge.judge(image, COLOURS[0])
        seconds = time.perf_counter() - started
        done.set()
        watcher.join()
    return {"size": size, "seconds": seconds, "added_bytes": max(0, peak[0] - before)}


def memory(sizes: list[int]) -> None:
    print(f"\n{'':5s} {'default malloc arenas':>32s}   {'two arenas (scrutiny commands)':>32s}")
    print(
        f"{'size':>5s} {'seconds':>8s} {'MB added':>9s} {'bytes/px':>9s}   {'seconds':>8s} {'MB added':>9s} {'bytes/px':>9s}"
    )
    for size in sizes:
        cells = []
        for arenas in ([], ["--arenas", "2"]):
            out = subprocess.run(
                [sys.executable, __file__, "--one-size", str(size), *arenas], capture_output=True, text=True, check=True
            )
            row = json.loads(out.stdout.strip().splitlines()[-1])
            cells.append(f"{row['seconds']:8.2f} {row['added_bytes'] / 2**20:9.0f} {row['added_bytes'] / size**2:9.1f}")
        print(f"{size:5d} {'   '.join(cells)}")
    print("(aim: at most 20 bytes per pixel)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8, help="images per kind and size")
    parser.add_argument("--sizes", default="512,1024", help="sizes for the per-kind table ('' for none)")
    parser.add_argument("--memory", default="512,1024,2048,4096", help="sizes for the memory curve ('' for none)")
    parser.add_argument("--one-size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--arenas", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    keep_tool_results(0)  # the same images are judged more than once here: each judgment measures its own
    if args.arenas:
        from scrutiny.core.malloc import limit_arenas

        limit_arenas(args.arenas)
    if args.one_size:
        print(json.dumps(one_size(args.one_size)))
        return
    if args.sizes:
        per_kind(args.images, [int(s) for s in args.sizes.split(",")])
    if args.memory:
        memory([int(s) for s in args.memory.split(",")])


if __name__ == "__main__":
    main()
