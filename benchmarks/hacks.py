"""What the cheapest images earn: every degenerate image class against faithful images, per reward.

    python benchmarks/hacks.py [--photos validation|tune|all] [--json]

For each prompt of a set of our own (counts, colours, positions and text on synthetic scenes;
labelled real photos as "a photo of two dogs"; an edit) it scores a faithful image and every
degenerate class of `scrutiny.testing.hacks` (noise at three grains, flat fields, a gradient,
a checkerboard, stripes, tiled copies, the prompt written on a blank page), plus a sharp photo
of something else and a group of copies, with three rewards: `JudgeReward()`,
`JudgeReward(guards=True)` and the default judge (`scrutiny.judge`: unchecked content counts as
unmet). Aim: every degenerate class mean <= 0.02 and max <= 0.1 for each; faithful images keep
their scores. A class the prompt itself asks for (text on a blank page for "a poster that says")
is not a hack there and is left out.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from scrutiny import Judge, JudgeConfig, Store
from scrutiny.agents.checks.degenerate import allowed
from scrutiny.agents.rubric import synthesize
from scrutiny.testing.hacks import HACKS, photo_items, something_else, synthetic_items, tiled, uniform_noise
from scrutiny.testing.scenes import Shape, _textured_scene, shapes_on
from scrutiny.trainers.rewards import JudgeReward

PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "real_photos"
MEAN_AIM, MAX_AIM = 0.02, 0.1


def rewards(home: str) -> dict:
    store = Store(home=home)
    plain = Judge(store=store, config=JudgeConfig(cache=False, unchecked="omit", keep="none"))
    return {
        "JudgeReward()": JudgeReward(judge=plain),
        "JudgeReward(guards=True)": JudgeReward(judge=plain, guards=True),
        "scrutiny.judge": Judge(store=store, config=JudgeConfig(cache=False, keep="none")),
    }


def score(reward, images, prompt: str) -> list[float]:
    if isinstance(reward, JudgeReward):
        out = reward.score(images, [prompt] * len(images))
    else:
        out = [v.score for v in reward.judge_many(images, [prompt] * len(images))]
    return [float("nan") if s is None else float(s) for s in out]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", default="validation", choices=("validation", "tune", "all"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    items = synthetic_items() + (photo_items(PHOTOS, args.photos) if PHOTOS.exists() else [])
    table: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as home:
        for name, reward in rewards(home).items():
            rows: dict[str, list[float]] = {}
            for k, item in enumerate(items):
                faithful = item.faithful()
                asked = set(allowed(item.prompt, synthesize(item.prompt)))
                classes = {c: f(item) for c, f in HACKS.items() if not _asked(c, asked)}
                classes["a sharp photo of something else"] = something_else(items, k)
                # separate calls: a batch holding copies of one image is a group of copies (below)
                for cls, image in [("faithful", faithful), *classes.items()]:
                    rows.setdefault(cls, []).extend(score(reward, [image], item.prompt))
                if isinstance(reward, JudgeReward):  # a group whose samples copy one another
                    rows.setdefault("a group of copies", []).extend(score(reward, [faithful] * 4, item.prompt))
            rows.update(_edits(reward))
            table[name] = rows
    if args.json:
        print(json.dumps({n: {c: _summary(v) for c, v in rows.items()} for n, rows in table.items()}, indent=2))
        return
    _print(table)


def _asked(cls: str, asked: set[str]) -> bool:
    kind = {"noise": "noise", "flat": "flat", "gradient": "flat", "checker": "periodic", "stripes": "periodic"}
    kind |= {"tiled": "copies", "prompt written": "text_canvas"}
    return any(cls.startswith(k) and v in asked for k, v in kind.items())


def _edits(reward) -> dict[str, list[float]]:
    """An edit and degenerate outputs for it (the default judge only: rewards score prompts)."""
    if isinstance(reward, JudgeReward):
        return {}
    source = _textured_scene(np.random.default_rng(3))
    done = shapes_on(source, [Shape("circle", "red", (200, 200, 300, 300))])
    instruction = "Add a red circle in the middle"
    outputs = {"edit: faithful": done, "edit: noise": uniform_noise(3), "edit: tiled result": tiled(done, 2)}
    return {cls: [reward.edit(source, [image], instruction).scores[0] or 0.0] for cls, image in outputs.items()}


def _summary(values: list[float]) -> dict:
    finite = [v for v in values if v == v]
    return {
        "n": len(values),
        "mean": float(np.mean(finite)) if finite else None,
        "max": float(np.max(finite)) if finite else None,
        "abstained": len(values) - len(finite),
    }


def _print(table: dict[str, dict[str, list[float]]]) -> None:
    names = list(table)
    classes = list(dict.fromkeys(c for rows in table.values() for c in rows))
    print(f"{'class':34s}" + "".join(f"{n:>28s}" for n in names))
    failures = 0
    for cls in classes:
        cells = []
        for n in names:
            s = _summary(table[n].get(cls, []))
            if s["n"] == 0:
                cells.append(f"{'-':>28s}")
                continue
            degenerate = not cls.startswith(("faithful", "edit: faithful"))
            bad = degenerate and s["mean"] is not None and (s["mean"] > MEAN_AIM or s["max"] > MAX_AIM)
            failures += bad
            shown = "abstain" if s["mean"] is None else f"{s['mean']:.3f} / {s['max']:.3f}"
            cells.append(f"{shown}{' !' if bad else ''} (n={s['n']})".rjust(28))
        print(f"{cls:34s}" + "".join(cells))
    print(f"\nmean / max per class; aim for degenerate classes: mean <= {MEAN_AIM}, max <= {MAX_AIM}")
    print(f"{failures} class and reward pairs miss the aim")


if __name__ == "__main__":
    main()
