"""Checks an image-text model settles against alternatives: attributes other than a detected
object's or the image's colour, actions, and whole-image properties (style, lighting, medium).

Planned: `similarity` with the criterion as a caption and its alternatives (`texts`). Scored: the
caption's probability, rescaled so that chance (1 / number of texts) is 0 and certainty is 1.
"""

from __future__ import annotations

import numpy as np

from scrutiny.agents.checks.evidence import Scored
from scrutiny.agents.state import Observation
from scrutiny.core.schema import AttributeCheck, Criterion, GlobalCheck, RelationCheck

CONTRAST_COLORS = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white", "gray")
MEDIA_ALTERNATIVES = ("a photo", "a digital illustration", "a pencil sketch", "an oil painting", "a 3d render")


def applies(c: Criterion) -> bool:
    """Whether an image-text model checks this criterion (rather than a detector or a palette)."""
    k = c.check
    if isinstance(k, AttributeCheck):
        return k.attribute != "color" or (k.object is not None and k.detect is None)
    return isinstance(k, GlobalCheck) or (isinstance(k, RelationCheck) and bool(k.action))


def steps(c: Criterion) -> list[str]:
    return ["similarity"]


def texts(c: Criterion) -> list[str]:
    """The texts an image-text model compares: the criterion as a caption first, then its alternatives."""
    k = c.check
    if isinstance(k, AttributeCheck) and k.attribute == "color":
        others = [x for x in CONTRAST_COLORS if x != k.value][:5]
        return [f"a photo of a {k.word} {k.object}"] + [f"a photo of a {x} {k.object}" for x in others]
    if isinstance(k, AttributeCheck) and k.attribute == "type":
        return [f"a photo of {'an' if k.value[:1] in 'aeiou' else 'a'} {k.value}", f"a photo of a {k.object}"]
    if isinstance(k, AttributeCheck):
        return [f"a photo of a {k.word} {k.object}", f"a photo of a {k.object}"]
    if isinstance(k, RelationCheck):
        subject = k.subject_phrase or k.subject
        if k.object is None:
            return [f"a photo of a {subject} {k.relation}", f"a photo of a {subject}"]
        other = k.object_phrase or k.object
        return [f"a photo of a {subject} {k.relation} a {other}", f"a photo of a {subject} and a {other}"]
    return _global_texts(k)


def _global_texts(k: GlobalCheck) -> list[str]:
    """The statement about the whole image, then its alternatives."""
    if k.property == "tag":
        return [f"an image, {k.value}", "an image"]
    if k.property == "lighting":
        return [f"a photo with {k.value} lighting", "a photo with plain, even lighting"]
    if k.property == "time":
        return [f"a photo taken at {k.value}", "a photo taken at midday", "a photo taken at night"][
            : 2 + (k.value != "night")
        ]
    if k.property == "weather":
        return [f"a photo in the {k.value}", "a photo on a clear, dry day"]
    if k.property == "medium":
        return [k.value] + [m for m in MEDIA_ALTERNATIVES if k.value not in m]
    return [f"an image in {k.value} style", "an ordinary photo"]


def score(c: Criterion, seen: dict[str, Observation]) -> Scored:
    obs = seen.get(f"compare {c.id}")
    if obs is None or obs.result is None:
        return Scored(None, "no image-text model compared the image with this statement", [])
    shown, probs = obs.result.texts, obs.result.probabilities
    chance = 1 / len(shown)
    value = float(np.clip((probs[0] - chance) / (1 - chance), 0, 1))
    top = int(np.argmax(probs))
    return Scored(
        value, f'"{shown[0]}": {probs[0]:.2f} against {len(shown) - 1} alternatives (best: "{shown[top]}")', [obs]
    )
