"""How much of real prompt sets the offline rubric synthesizer turns into criteria.

    python benchmarks/rubric_coverage.py [--data ../shared/data] [--json]

- Flow-GRPO OCR prompts: the target text (first "..." span) must be extracted exactly.
- UniGenBench: for testpoints of the kinds the synthesizer handles (text, quantity, colour,
  2-D/3-D layout, negation), the share that becomes a criterion of that kind about the same thing.
- T2I-CompBench colour, spatial and numeracy prompts: the share of prompts whose every
  colour-object pair, relation, or count-object pair becomes a matching criterion.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
from collections import defaultdict
from pathlib import Path

from scrutiny.agents.rubric import COLOR_WORDS, NUMBER_WORDS, singular, synthesize
from scrutiny.tools.text_match import flow_grpo_target

UNIGEN_KINDS = {
    "Text Generation": "text",
    "Attribute - Quantity": "count",
    "Attribute - Color": "color",
    "Entity Layout - Two-Dimensional Space": "position",
    "Entity Layout - Three-Dimensional Space": "position",
    "Grammar - Negation": "negation",
}


def _words(text: str) -> set[str]:
    return {singular(w) for w in re.findall(r"[a-z']+|\d+", text.lower())}


def covered(kind: str, description: str, criteria) -> bool:
    desc = description.lower().strip().strip('"')
    desc_words = _words(desc)
    for c in criteria:
        p = c.params
        if kind == "text" and c.dimension == "text" and p.get("text"):
            t = p["text"].lower().strip()
            if t in desc or desc in t or len(_words(t) & desc_words) >= max(1, len(_words(t)) // 2):
                return True
        if kind == "count" and c.dimension == "count":
            numbers = {str(p["count"])} | {w for w, n in NUMBER_WORDS.items() if n == p["count"]}
            if (
                numbers & (desc_words | {desc})
                or any(n in desc for n in numbers if " " in n)
                or p["object"] in desc_words
            ):
                return True
        if kind == "color" and (c.dimension == "color" or (c.dimension == "count" and p.get("color"))):
            if p.get("color_word", p.get("color")) in desc or p.get("color") in {
                COLOR_WORDS.get(w) for w in desc_words
            }:
                return True
        if kind == "position" and c.dimension == "position":
            if {p.get("subject"), p.get("object")} & desc_words or p["relation"].split()[0] in desc_words:
                return True
        if kind == "negation" and p.get("negated"):
            if _words(p.get("phrase", "")) & desc_words:
                return True
    return False


def flow_grpo(data: Path) -> dict:
    prompts = [
        line.strip()
        for line in (data / "flow_grpo_ocr_prompts" / "prompts.txt").read_text().splitlines()
        if line.strip()
    ]
    exact = 0
    misses = []
    for prompt in prompts:
        texts = [c.params["text"] for c in synthesize(prompt) if c.dimension == "text" and c.params.get("text")]
        if texts and texts[0] == flow_grpo_target(prompt):
            exact += 1
        else:
            misses.append(prompt)
    return {"prompts": len(prompts), "exact": exact, "share": exact / len(prompts), "misses": misses[:5]}


def unigenbench(data: Path) -> dict:
    totals, hits = defaultdict(int), defaultdict(int)
    misses = defaultdict(list)
    unreadable = 0
    for name in ("test_prompts_en.csv", "test_prompts_en_long.csv"):
        for row in csv.DictReader(open(data / "unigenbench" / name, encoding="utf-8")):
            try:
                dims = json.loads(row["sub_dims_en"])
            except json.JSONDecodeError:  # a few rows carry unescaped quotes in their annotations
                unreadable += 1
                continue
            criteria = synthesize(row["prompt_en"])
            for point, description in zip(dims["Testpoints"], dims["Testpoint Description"]):
                kind = UNIGEN_KINDS.get(point)
                if kind is None:
                    continue
                totals[kind] += 1
                if covered(kind, description, criteria):
                    hits[kind] += 1
                else:
                    misses[kind].append(description)
    per_kind = {k: hits[k] / totals[k] for k in totals}
    return {
        "testpoints": dict(totals),
        "unreadable_rows": unreadable,
        "per_kind": per_kind,
        "overall": sum(hits.values()) / sum(totals.values()),
        "misses": {k: v[:4] for k, v in misses.items()},
    }


def compbench(data: Path) -> dict:
    folder = data / "t2i_compbench" / "dataset"
    out = {}
    for category, file in (
        ("color", "color_val.txt"),
        ("spatial", "spatial_val.txt"),
        ("numeracy", "numeracy_val.txt"),
    ):
        prompts = [line.strip() for line in (folder / file).read_text().splitlines() if line.strip()]
        good = 0
        for prompt in prompts:
            criteria = synthesize(prompt)
            words = prompt.lower().split()
            if category == "color":
                pairs = [
                    (COLOR_WORDS[w], singular(words[i + 1].strip(",.")))
                    for i, w in enumerate(words[:-1])
                    if w in COLOR_WORDS
                ]
                have = {(c.params.get("color"), c.params.get("object")) for c in criteria}
                ok = bool(pairs) and all(p in have for p in pairs)
            elif category == "spatial":
                ok = any(c.dimension == "position" for c in criteria)
            else:
                pairs = [
                    (NUMBER_WORDS.get(w, int(w) if w.isdigit() else None), singular(words[i + 1].strip(",.")))
                    for i, w in enumerate(words[:-1])
                    if w in NUMBER_WORDS or w.isdigit()
                ]
                have = {(c.params.get("count"), c.params.get("object")) for c in criteria if c.dimension == "count"}
                ok = bool(pairs) and all(p in have for p in pairs)
            good += ok
        out[category] = {"prompts": len(prompts), "covered": good / len(prompts)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"error: no data folder at {args.data}; pass --data")
    report = {
        "flow_grpo": flow_grpo(args.data),
        "unigenbench": unigenbench(args.data),
        "t2i_compbench": compbench(args.data),
    }
    if args.json:
        print(json.dumps(report))
        return
    f = report["flow_grpo"]
    print(f"Flow-GRPO OCR prompts: target extracted exactly for {f['exact']}/{f['prompts']} ({f['share']:.1%})")
    u = report["unigenbench"]
    print(
        f"UniGenBench testpoints covered: {u['overall']:.1%} overall ({u['unreadable_rows']} rows with broken annotations skipped)"
    )
    for kind, share in u["per_kind"].items():
        print(f"  {kind:<10} {share:6.1%} of {u['testpoints'][kind]}")
    for category, r in report["t2i_compbench"].items():
        print(f"T2I-CompBench {category:<9} {r['covered']:6.1%} of {r['prompts']} prompts")


if __name__ == "__main__":
    main()
