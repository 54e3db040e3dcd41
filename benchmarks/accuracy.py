"""Pairwise accuracy of the offline judge on preference pairs whose answer is known.

    python benchmarks/accuracy.py [--pairs 40] [--kinds text,count,...] [--hard-pairs 20] [--json]

The basic kinds: correct vs misspelled text, right vs wrong count, colour, position, a faithful
edit vs one that also changes another region. The hard sets, one per measured failure class
(`scrutiny.testing.scenes.HARD_KINDS`):

- whole_frame: an addition vs the same addition with the whole picture's colours shifted;
- colored_removal: "remove the purple triangle" with a second triangle of another colour;
- recolor: recolouring the named shape vs the other shape;
- wrong_shape_addition: "add a red square" answered with a red square vs a red circle;
- dark_background, textured_background: counts and colours on dark canvases and photo-like scenes;
- scene_text: a storefront sign among distractor words; case: the target in another case;
- tiny_text: 20-px text on a 2000x1400 poster; extra_text: the target with unrequested text.

Half the pairs are shown better-first and half worse-first; a pair counts as correct when the
judge prefers the better image. Ties and abstentions count as wrong and are reported. For the
text classes the last column counts the ties where the better image's text was read exactly:
the aim is that a word that was read never ties with its one-letter misspelling. Text targets
are the Flow-GRPO OCR prompts' targets when `../shared/data` is present.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from scrutiny import Judge, JudgeConfig, Store
from scrutiny.testing.scenes import HARD_KINDS, KINDS, preference_pairs
from scrutiny.tools.text_match import flow_grpo_target

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TEXT_KINDS = {"text", "scene_text", "case", "tiny_text", "extra_text"}


def flow_grpo_texts(limit: int, max_len: int = 24) -> list[str] | None:
    path = DATA / "flow_grpo_ocr_prompts" / "prompts.txt"
    if not path.exists():
        return None
    targets = [flow_grpo_target(line) for line in path.read_text().splitlines()]
    return [t for t in targets if t and 4 <= len(t) <= max_len and sum(c.isalpha() for c in t) >= 4][:limit]


def _read_exactly(verdict, index: int) -> bool:
    """Whether the text criterion of candidate `index` found the requested text exactly."""
    for s in verdict.candidates[index].scores:
        if s.dimension == "text" and s.score is not None and s.score >= 0.999 and "no text besides" not in s.statement:
            return True
    return False


def accuracy(kind: str, n: int, judge: Judge, seed: int = 0) -> dict:
    texts = flow_grpo_texts(n) if kind == "text" else None
    pairs = preference_pairs(kind, n, seed=seed, texts=texts)
    right, ties, read_ties, wrong = 0, 0, 0, []
    second = {"looked": 0, "read": 0}  # text images where the first reading found nothing
    for k, pair in enumerate(pairs):
        flip = k % 2 == 1
        a, b = (pair.worse, pair.better) if flip else (pair.better, pair.worse)
        if pair.source is not None:
            verdict = judge.edit(pair.source, [a, b], pair.prompt)
        else:
            verdict = judge.compare(a, b, pair.prompt)
        for tiles in _second_looks(verdict):
            second["looked"] += 1
            second["read"] += tiles
        if verdict.preferred == (1 if flip else 0):
            right += 1
            continue
        if verdict.preferred is None:
            ties += 1
            read_ties += kind in TEXT_KINDS and _read_exactly(verdict, 1 if flip else 0)
        wrong.append({"prompt": pair.prompt, "scores": verdict.scores, "critique": verdict.critique})
    return {
        "kind": kind,
        "pairs": n,
        "accuracy": right / n,
        "ties": ties,
        "read_ties": read_ties,
        "second_look": second,
        "wrong": wrong[:3],
    }


def _second_looks(verdict) -> list[bool]:
    """Per candidate that needed a second look (nothing read at first, so the judge zoomed on the four
    quarters): whether the quarters read any text."""
    out = []
    for i in range(len(verdict.scores)):
        mine = [e for e in verdict.evidence if e.candidate == i]
        if any(e.tool == "zoom" and e.arguments.get("factor") == 1.5 for e in mine):
            crops = [
                e for e in mine if e.tool == "ocr" and not str(e.arguments.get("image", "")).startswith("candidate")
            ]
            out.append(any((e.output or {}).get("lines") for e in crops))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=40, help="pairs per basic kind")
    parser.add_argument("--hard-pairs", type=int, default=30, help="pairs per hard set")
    parser.add_argument("--kinds", default=",".join(KINDS + HARD_KINDS))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        judge = Judge(store=Store.memory(home), config=JudgeConfig(cache=False))
        results = [
            accuracy(kind, args.hard_pairs if kind in HARD_KINDS else args.pairs, judge)
            for kind in args.kinds.split(",")
        ]
    if args.json:
        print(json.dumps(results))
        return
    print(f"{'kind':<22} {'accuracy':>8} {'pairs':>5} {'ties':>4} {'read ties':>9} {'second look read':>16}")
    for r in results:
        read = str(r["read_ties"]) if r["kind"] in TEXT_KINDS else "-"
        look = r["second_look"]
        second = f"{look['read']}/{look['looked']}" if look["looked"] else "-"
        print(f"{r['kind']:<22} {r['accuracy']:8.1%} {r['pairs']:5d} {r['ties']:4d} {read:>9} {second:>16}")
    for r in results:
        for w in r["wrong"]:
            print(f"wrong {r['kind']}: {w['prompt']!r} scores {w['scores']}")


if __name__ == "__main__":
    main()
