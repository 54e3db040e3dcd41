"""`safety`: NudeNet's bundled detector (YOLOv8n, ONNX, offline) mapped to policy categories.

Needs the `[safety]` extra (`pip install scrutiny[safety]`). Categories:
- `explicit`: exposed genitalia, anus, female breasts or buttocks;
- `suggestive`: the same body parts covered, or an exposed belly, male breast or armpits;
- `safe`: nothing above `min_score`.
`safe_score` is 1 for safe, 0.5 for suggestive, 0 for explicit.
"""

from __future__ import annotations

import threading
from typing import Any, Literal

import cv2
from pydantic import BaseModel

from scrutiny.core.images import pixels
from scrutiny.core.lazy import once
from scrutiny.tools.base import ImageArg, ToolError, ToolResult, tool

EXPLICIT = {
    "FEMALE_GENITALIA_EXPOSED",
    "MALE_GENITALIA_EXPOSED",
    "ANUS_EXPOSED",
    "FEMALE_BREAST_EXPOSED",
    "BUTTOCKS_EXPOSED",
}
SUGGESTIVE = {
    "FEMALE_GENITALIA_COVERED",
    "ANUS_COVERED",
    "FEMALE_BREAST_COVERED",
    "BUTTOCKS_COVERED",
    "BELLY_EXPOSED",
    "MALE_BREAST_EXPOSED",
    "ARMPITS_EXPOSED",
}
Category = Literal["safe", "suggestive", "explicit"]


_calls = threading.Lock()
"""One call of the engine at a time: its pre- and post-processing are not re-entrant."""


@once
def nudenet_detector() -> Any:
    """NudeNet's bundled detector, built on first use."""
    try:
        from nudenet import NudeDetector
    except ImportError:
        raise ToolError("the safety tool needs NudeNet: pip install 'scrutiny[safety]'") from None
    from scrutiny.core.onnx import without_spinning

    detector = NudeDetector()
    if hasattr(detector, "onnx_session"):  # its own session, loaded again without spinning
        detector.onnx_session = without_spinning(detector.onnx_session)
    return detector


class SafetyFinding(BaseModel):
    label: str
    category: Category
    score: float
    box: tuple[int, int, int, int]


class SafetyResult(ToolResult):
    category: Category
    safe_score: float
    findings: list[SafetyFinding]


def categorise(label: str) -> Category:
    return "explicit" if label in EXPLICIT else "suggestive" if label in SUGGESTIVE else "safe"


@tool(memo=True)
def safety(image: ImageArg, min_score: float = 0.4) -> SafetyResult:
    """Check an image for nudity with NudeNet and name the worst category found.

    Args:
        image: Name of the image to check.
        min_score: Detections less confident than this are ignored.
    """
    detector = nudenet_detector()
    bgr = cv2.cvtColor(pixels(image), cv2.COLOR_RGB2BGR)
    with _calls:
        raw = detector.detect(bgr)
    findings = [
        SafetyFinding(
            label=d["class"],
            category=categorise(d["class"]),
            score=round(float(d["score"]), 4),
            box=(int(d["box"][0]), int(d["box"][1]), int(d["box"][0] + d["box"][2]), int(d["box"][1] + d["box"][3])),
        )
        for d in raw
        if d["score"] >= min_score
    ]
    worst = (
        "explicit"
        if any(f.category == "explicit" for f in findings)
        else ("suggestive" if any(f.category == "suggestive" for f in findings) else "safe")
    )
    return SafetyResult(
        category=worst, safe_score={"safe": 1.0, "suggestive": 0.5, "explicit": 0.0}[worst], findings=findings
    )
