"""Fit the COCO detector's calibration on the training split of the labelled real photos.

    python benchmarks/calibrate.py [--data ../shared/data] [--write]

For every photo of the training split (`benchmarks/photos.py`: never the validation split) and every
class it is labelled with, present or absent, that the detector found at all, its best confidence for
that class is paired with whether the class is there. P(present | confidence) is fit to the pairs by
isotonic regression (pool adjacent violators: it assumes only that more confidence never means less
likely there), each pooled block's rate smoothed with one present and one absent pseudo-example, held
across the block's confidences and rising linearly between blocks, stored as knots that `tools/coco.py`
interpolates between. The photos are too few for a curve per class (the most frequent, person, has a
dozen examples), so classes share one; two groups whose detections are known to differ get their own,
shrunk toward the shared one (`coco.CALIBRATION_GROUPS`: people, COCO's best-detected class, and the
animals, which the detector confuses with one another at high confidence): each of their blocks is
smoothed with two pseudo-examples at the shared curve's rate instead of one each way. A class the
detector did not find at all is not in the fit: the judge scores it "not found" (0). The count
threshold is the confidence from which a find counts as one object that gets most labelled counts
right. `--write` stores the result in `tools/detector_calibration.json`, which `tools/coco.py` reads.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from photos import DATA, in_validation, load  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "tools" / "detector_calibration.json"


def examples(items: list[dict]) -> list[tuple[str, float, bool, int | None, list[float]]]:
    """(class, best confidence, present, labelled count, every confidence of the class) per labelled class."""
    from PIL import Image

    from scrutiny.tools import coco

    detector = coco.CocoDetector(min_confidence=0.05)
    out = []
    for item in items:
        assert not in_validation(item["file"]), "the calibration is never fit on the validation split"
        found = detector.detect(Image.open(item["path"]).convert("RGB"), None)
        labelled = [(o["class"], True, o.get("count")) for o in item["objects"]]
        labelled += [(a, False, 0) for a in item["absent"]]
        for cls, present, count in labelled:
            scores = sorted((d.score for d in found if d.label == cls), reverse=True)
            out.append((cls, scores[0] if scores else 0.0, present, count, scores))
    return out


def isotonic(x: np.ndarray, y: np.ndarray, prior: list[list[float]] | None = None) -> list[list[float]]:
    """Knots [confidence, P(present)] of the non-decreasing fit (pool adjacent violators), each block's
    rate smoothed as (present + 1) / (examples + 2), or with a `prior` curve (knots) as
    (present + 2 prior) / (examples + 2), prior taken at the block's middle; held from its lowest
    confidence to its highest; between blocks P rises linearly (and never falls)."""
    order = np.argsort(x, kind="stable")
    blocks: list[list[float]] = []  # [lowest x, highest x, present, examples]
    for xi, yi in zip(x[order], y[order]):
        blocks.append([float(xi), float(xi), float(yi), 1.0])
        while len(blocks) > 1 and blocks[-2][2] / blocks[-2][3] >= blocks[-1][2] / blocks[-1][3]:
            last = blocks.pop()
            blocks[-1] = [blocks[-1][0], last[1], blocks[-1][2] + last[2], blocks[-1][3] + last[3]]
    knots: list[list[float]] = []
    for low, high, yes, n in blocks:
        pseudo = 1.0 if prior is None else 2 * float(np.interp((low + high) / 2, *zip(*prior)))
        p = round(max((yes + pseudo) / (n + 2), knots[-1][1] if knots else 0.0), 4)
        knots += [[round(low, 4), p], [round(high, 4), p]]
    return [[0.0, knots[0][1]], *knots, [1.0, knots[-1][1]]]


def count_threshold(rows) -> float:
    """The confidence from which a find counts as one object that gets the most labelled counts right
    (the middle of the thresholds that tie for best, to the nearest 0.05)."""
    counted = [(count, scores) for _, _, present, count, scores in rows if present and count]
    thresholds = np.round(np.arange(0.30, 0.91, 0.05), 2)
    right = [sum(sum(s >= t for s in scores) == count for count, scores in counted) for t in thresholds]
    best = thresholds[np.array(right) == max(right)]
    return round(float(np.round((best.min() + best.max()) / 2 / 0.05) * 0.05), 2)


def _fit(rows: list, prior: list[list[float]] | None = None) -> list[list[float]]:
    return isotonic(np.array([r[1] for r in rows]), np.array([float(r[2]) for r in rows]), prior)


def fit(data: Path) -> dict:
    rows = examples(load(data, "train"))
    found = [r for r in rows if r[1] > 0]
    from scrutiny.tools.coco import calibration_group

    knots = _fit(found)
    groups = {}
    for group in sorted({calibration_group(r[0]) for r in found} - {None}):
        members = [r for r in found if calibration_group(r[0]) == group]
        groups[group] = {"examples": len(members), "knots": _fit(members, knots)}
    return {
        "fit_on": "benchmarks/calibrate.py, training split of shared/data/real_photos",
        "examples": len(found),
        "knots": knots,
        "groups": groups,
        "count_confidence": count_threshold(rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--write", action="store_true", help=f"store the fit in {OUT.name}")
    args = parser.parse_args()
    result = fit(args.data)
    print(json.dumps(result, indent=2))
    if args.write:
        OUT.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {OUT.relative_to(OUT.parents[1])}")


if __name__ == "__main__":
    main()
