"""Per-tool latency, and our `ocr` tool against calling RapidOCR directly on the same images.

    python benchmarks/tools.py [--repeats 5]

Prints milliseconds per call for each tool and the throughput ratio
`rapidocr_direct_seconds / scrutiny_ocr_seconds` (1.0 = no overhead; target >= 0.9).
Both sides use one engine with the same parameters and the same images, interleaved so that
machine noise hits both alike.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from scrutiny.testing.scenes import Shape, shapes, sign
from scrutiny.tools import crop, detect, diff, ocr, quality, text_match, zoom
from scrutiny.tools.ocr import ocr_engine


def timed(fn, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    signs = [sign(text) for text in ("OPEN 24 HOURS", "FRESH BREAD\nDAILY", "GRAND OPENING", "Cafe Luna")]
    signs.append(sign("NO PARKING", size=(1280, 720), font_size=120))
    scene = shapes([Shape("circle", "red", (20, 20, 120, 120)), Shape("square", "blue", (200, 200, 320, 320))])
    edited = scene.copy()
    edited.paste((30, 170, 60), (300, 40, 380, 120))

    # 1. our ocr tool vs the bare engine, interleaved, same images, same engine
    engine = ocr_engine()
    arrays = [np.ascontiguousarray(np.asarray(im)[:, :, ::-1]) for im in signs]
    engine(arrays[0])  # warm up both paths' lazy state
    ours, direct = [], []
    for _ in range(args.repeats):
        for image, array in zip(signs, arrays):
            start = time.perf_counter()
            engine(array)
            direct.append(time.perf_counter() - start)
            start = time.perf_counter()
            ocr(image)
            ours.append(time.perf_counter() - start)
    ratio = sum(direct) / sum(ours)

    # 2. per-tool latency
    rows = {
        "crop": timed(lambda: crop(signs[0], [100, 100, 600, 600]), args.repeats * 20),
        "zoom": timed(lambda: zoom(signs[0], [100, 100, 600, 600], factor=4), args.repeats * 20),
        "ocr (640x320 sign)": statistics.median(ours),
        "text_match": timed(lambda: text_match(signs[0], "OPEN 24 HOURS"), args.repeats),
        "detect (512x512 shapes)": timed(lambda: detect(scene), args.repeats * 4),
        "diff (512x512)": timed(lambda: diff(edited, scene), args.repeats * 4),
        "quality (640x320)": timed(lambda: quality(signs[0]), args.repeats * 4),
    }
    try:
        from scrutiny.tools import safety

        safety(scene)
        rows["safety (512x512)"] = timed(lambda: safety(scene), args.repeats)
    except Exception as e:  # the [safety] extra is optional
        print(f"safety skipped: {e}")

    print(f"{'tool':<26}{'ms/call':>10}")
    for name, seconds in rows.items():
        print(f"{name:<26}{seconds * 1000:>10.2f}")
    print(
        f"\nocr: rapidocr direct {sum(direct) / len(direct) * 1000:.1f} ms, "
        f"scrutiny ocr {sum(ours) / len(ours) * 1000:.1f} ms per image over {len(ours)} calls"
    )
    print(f"ratio (direct time / ours, target >= 0.9): {ratio:.3f}")


if __name__ == "__main__":
    main()
