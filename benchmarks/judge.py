"""Judgments per second on text-rendering prompts, against the bare OCR engine on the same images.

    python benchmarks/judge.py [--images 24]

Images are signs rendering the target text of Flow-GRPO OCR prompts (from ../shared/data when
present). Three numbers:
1. correct renderings: the judge reads each image once (no closer look needed), so the ratio
   `engine_seconds / judge_seconds` measures everything the judge adds around OCR (intake,
   graph, quality, the degenerate gate, trace, verdict, artifacts in the store, parsing each new
   prompt). Target >= 0.85. The same judge without skills or the verdict cache (its lookup and
   its row) is printed too: the offline judge runs the router (MiniLM with the `[embed]` extra)
   only where a skill's params can change the rubric, which the built-in library's cannot here. The two judges take turns going first on
   each image (the second to parse a prompt finds spaCy's caches warm).
   The engine is RapidOCR as scrutiny configures it: onnxruntime's thread pools do not spin
   (`scrutiny.core.onnx`), which made the engine itself about 1.6x faster on two cores.
   Some of these prompts also name things the COCO detector knows ("a steaming cup of coffee"), and
   the judge then runs the detector too, by design (some 60 ms a view, three views for a long image).
   A second ratio is printed against the engines the judge ran for each image: OCR, plus the
   detector where the verdict's evidence shows a detection.
2. half the images with a typo: the judge zooms in and reads those again, by design.
3. the same calls again, answered from the verdict cache: the speed-up.
The store is a fresh on-disk SQLite store in a temporary folder, as a user would have.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from scrutiny import Judge, JudgeConfig, Store
from scrutiny.testing.scenes import fitted_sign, misspell
from scrutiny.tools.base import keep_tool_results
from scrutiny.tools.coco import CocoDetector
from scrutiny.tools.ocr import ocr_engine
from scrutiny.tools.text_match import flow_grpo_target

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "flow_grpo_ocr_prompts" / "prompts.txt"


def prompts(n: int) -> list[tuple[str, str]]:
    lines = DATA.read_text().splitlines() if DATA.exists() else [f'A sign that says "SALE {i}"' for i in range(n)]
    pairs = [(line, flow_grpo_target(line)) for line in lines]
    return [(p, t) for p, t in pairs if t and 4 <= len(t) <= 24][:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=24)
    args = parser.parse_args()
    keep_tool_results(0)  # the same images are judged more than once here: each judgment measures its own
    rng = np.random.default_rng(0)
    items = prompts(args.images)
    right = [fitted_sign(t) for _, t in items]
    typos = [fitted_sign(misspell(t, rng)) if k % 2 else fitted_sign(t) for k, (_, t) in enumerate(items)]
    texts = [p for p, _ in items]

    engine, detector = ocr_engine(), CocoDetector()
    arrays = [np.ascontiguousarray(np.asarray(im)[:, :, ::-1]) for im in right]
    with tempfile.TemporaryDirectory() as home:
        judge = Judge(store=Store(home=home), config=JudgeConfig(concurrency=1))
        bare = Judge(store=judge.store, config=JudgeConfig(concurrency=1, cache=False, skills=False))
        uncached = Judge(store=judge.store, config=JudgeConfig(concurrency=1, cache=False))
        engine(arrays[0])
        detector.detect(right[0], None)
        for warm in (judge, bare):  # every engine loaded before timing, as in a long run: OCR and the detector
            warm.judge(right[0], f"{texts[0]}, beside a dog")
        # 1. interleaved, image by image, so machine noise hits both sides alike
        engine_s = engines_s = judge_s = bare_s = 0.0
        detected = 0
        for k, (image, array, text) in enumerate(zip(right, arrays, texts)):
            start = time.perf_counter()
            engine(array)
            engine_s += time.perf_counter() - start
            for which in ("judge", "bare") if k % 2 else ("bare", "judge"):
                start = time.perf_counter()
                verdict = (judge if which == "judge" else bare).judge(image, text)
                if which == "judge":
                    judge_s += time.perf_counter() - start
                else:
                    bare_s += time.perf_counter() - start
            if any(e.tool == "detect" for e in verdict.evidence):  # the detector's time, as the judge ran it
                detected += 1
                start = time.perf_counter()
                detector.detect(image, None)
                engines_s += time.perf_counter() - start
        engines_s += engine_s
        # 2. typos get a closer look
        start = time.perf_counter()
        uncached.judge_many(typos, texts)
        typo_s = time.perf_counter() - start
        # 3. the verdict cache
        start = time.perf_counter()
        verdicts = judge.judge_many(right, texts)
        cached_s = time.perf_counter() - start
        assert all(v.cached for v in verdicts)

    n = len(items)
    print(f"{n} images, one judgment at a time")
    print(f"bare OCR engine:              {n / engine_s:7.2f} images/s")
    print(
        f"judge, correct renderings:    {n / judge_s:7.2f} judgments/s   ratio to engine {engine_s / judge_s:.3f} (target >= 0.85)"
    )
    print(f"  without skills or cache:    {n / bare_s:7.2f} judgments/s   ratio to engine {engine_s / bare_s:.3f}")
    print(
        f"  ratio to the engines it ran: {engines_s / judge_s:.3f} (OCR on every image, the detector on the {detected} "
        f"whose prompts name things it knows)"
    )
    print(f"judge, half with a typo:      {n / typo_s:7.2f} judgments/s   (typos are zoomed and read again)")
    print(f"judge, cached:                {n / cached_s:7.2f} judgments/s   speed-up {judge_s / cached_s:.0f}x")


if __name__ == "__main__":
    main()
