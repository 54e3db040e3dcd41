"""Pairwise accuracy of the offline judge on preference pairs whose answer is known.

    python benchmarks/accuracy.py [--pairs 40] [--kinds text,count,color,position,edit]

For each kind (correct vs misspelled text, right vs wrong count, colour, position, a faithful
edit vs one that also changes another region), half the pairs are shown better-first and half
worse-first; a pair counts as correct when the judge prefers the better image. Ties and
abstentions count as wrong. Text targets are the first Flow-GRPO OCR prompts' targets when
`../shared/data` is present.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from scrutiny import Judge, JudgeConfig, Store
from scrutiny.testing.scenes import KINDS, preference_pairs
from scrutiny.tools.text_match import flow_grpo_target

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def flow_grpo_texts(limit: int, max_len: int = 24) -> list[str] | None:
    path = DATA / "flow_grpo_ocr_prompts" / "prompts.txt"
    if not path.exists():
        return None
    targets = [flow_grpo_target(line) for line in path.read_text().splitlines()]
    return [t for t in targets if t and 4 <= len(t) <= max_len and sum(c.isalpha() for c in t) >= 4][:limit]


def accuracy(kind: str, n: int, judge: Judge, seed: int = 0) -> dict:
    pairs = preference_pairs(kind, n, seed=seed, texts=flow_grpo_texts(n) if kind == "text" else None)
    right, wrong = 0, []
    for k, pair in enumerate(pairs):
        flip = k % 2 == 1
        a, b = (pair.worse, pair.better) if flip else (pair.better, pair.worse)
        if pair.source is not None:
            verdict = judge.edit(pair.source, [a, b], pair.prompt)
        else:
            verdict = judge.compare(a, b, pair.prompt)
        if verdict.preferred == (1 if flip else 0):
            right += 1
        else:
            wrong.append({"prompt": pair.prompt, "scores": verdict.scores, "critique": verdict.critique})
    return {"kind": kind, "pairs": n, "accuracy": right / n, "wrong": wrong[:3]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=40)
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        judge = Judge(store=Store.memory(home), config=JudgeConfig(cache=False))
        results = [accuracy(kind, args.pairs, judge) for kind in args.kinds.split(",")]
    if args.json:
        print(json.dumps(results))
        return
    for r in results:
        print(f"{r['kind']:<9} {r['accuracy']:6.1%} of {r['pairs']} pairs")
        for w in r["wrong"]:
            print(f"   wrong: {w['prompt']!r} scores {w['scores']}")


if __name__ == "__main__":
    main()
