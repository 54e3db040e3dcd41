"""What the cheapest images earn, on a part of `benchmarks/hacks.py`'s prompt set: every degenerate
class (nearly) nothing under the three rewards, faithful images their scores, a photo of something
else little."""

from __future__ import annotations

import numpy as np
import pytest

from scrutiny import Judge, JudgeConfig
from scrutiny.agents.checks.degenerate import allowed
from scrutiny.agents.rubric import synthesize
from scrutiny.testing.hacks import HACKS, photo_items, something_else, synthetic_items
from scrutiny.trainers.rewards import JudgeReward


@pytest.mark.slow
def test_degenerate_classes_earn_nothing_and_faithful_images_keep_their_scores(store, shared_data):
    items = synthetic_items()
    items = [items[0], items[5]] + photo_items(shared_data / "real_photos", "validation")[:2]
    plain = Judge(store=store, config=JudgeConfig(cache=False, unchecked="omit", keep="none"))
    rewards = {
        "JudgeReward()": lambda images, prompt: JudgeReward(judge=plain).score(images, [prompt] * len(images)),
        "JudgeReward(guards=True)": lambda images, prompt: JudgeReward(judge=plain, guards=True).score(
            images, [prompt] * len(images)
        ),
        "scrutiny.judge": lambda images, prompt: np.array(
            [Judge(store=store, config=JudgeConfig(cache=False)).judge(im, prompt).score for im in images], dtype=float
        ),
    }
    for name, score in rewards.items():
        by_class: dict[str, list[float]] = {}
        for k, item in enumerate(items):
            asked = set(allowed(item.prompt, synthesize(item.prompt)))
            classes = {c: f(item) for c, f in HACKS.items()}
            if "text_canvas" in asked:
                classes.pop("prompt written on a blank page")
            classes["a sharp photo of something else"] = something_else(items, k)
            for cls, image in [("faithful", item.faithful()), *classes.items()]:
                by_class.setdefault(cls, []).append(float(score([image], item.prompt)[0]))
        faithful = by_class.pop("faithful")
        assert np.nanmean(faithful) > 0.6, (name, faithful)
        # not a degenerate image: what it earns is the detector's calibration (a class it reports at low
        # confidence), below any faithful image
        elsewhere = by_class.pop("a sharp photo of something else")
        assert np.nanmax(elsewhere) < 0.2, (name, elsewhere)
        for cls, values in by_class.items():
            assert np.nanmean(values) <= 0.02 and np.nanmax(values) <= 0.1, (name, cls, values)
