"""`ocr`: read the text in an image with RapidOCR (PP-OCR models carried by its wheel, offline)."""

from __future__ import annotations

import logging
import threading
from typing import Any

import cv2
import numpy as np
from PIL import Image
from pydantic import BaseModel

from scrutiny.core.images import pixels
from scrutiny.core.lazy import once
from scrutiny.tools.base import ImageArg, ToolResult, tool
from scrutiny.tools.boxes import Box, Units, to_pixels

OCR_PARAMS = {"Det.limit_type": "max", "Det.limit_side_len": 960}
"""RapidOCR's defaults resize small images up and split lines; these keep lines whole."""


_calls = threading.Lock()
"""One call of the engine at a time: its pre- and post-processing are not re-entrant."""


@once
def ocr_engine() -> Any:
    """The process-wide RapidOCR engine, built on first use."""
    from rapidocr import RapidOCR

    engine = RapidOCR(params=OCR_PARAMS)
    logging.getLogger("RapidOCR").setLevel(logging.ERROR)  # "no text found" is an answer, not a warning
    _stop_spinning(engine)
    return engine


def _stop_spinning(engine: Any) -> None:
    """Load the engine's three models now and run each without spinning (`scrutiny.core.onnx`):
    RapidOCR builds its sessions itself and takes no option for it."""
    from scrutiny.core.onnx import without_spinning

    for load in ("_load_det_model", "_load_cls_model", "_load_rec_model"):
        model = getattr(engine, load, lambda: None)()
        runner = getattr(model, "session", None)  # rapidocr's OrtInferSession
        if runner is not None and hasattr(runner, "session"):
            runner.session = without_spinning(runner.session)


class OcrLine(BaseModel):
    text: str
    confidence: float
    box: tuple[int, int, int, int]
    """[x1, y1, x2, y2] in pixels of the image passed in (not of the crop)."""


class OcrResult(ToolResult):
    lines: list[OcrLine]
    text: str
    """All lines that passed `min_confidence`, top to bottom, joined by newlines."""


def run_engine(bgr: np.ndarray) -> list[tuple[str, float, np.ndarray]]:
    """One engine call under the lock (the engine's pre- and post-processing are not re-entrant)."""
    engine = ocr_engine()
    with _calls:
        out = engine(bgr)
    if out.txts is None:
        return []
    return list(zip(out.txts, (float(s) for s in out.scores), out.boxes))


@tool(memo=True)
def ocr(image: ImageArg, box: Box | None = None, units: Units = "norm1000", min_confidence: float = 0.5) -> OcrResult:
    """Read the text in an image, or in one region of it, line by line with confidences and boxes.

    Args:
        image: Name of the image to read.
        box: Optional region [x1, y1, x2, y2] to read instead of the whole image.
        units: "norm1000" for coordinates scaled to 0..1000 on both axes, "pixel" for pixels.
        min_confidence: Lines the recogniser is less sure of than this are left out.
    """
    offset_x = offset_y = 0
    rgb = pixels(image)
    if box is not None:
        offset_x, offset_y, x2, y2 = to_pixels(box, units, image.size)
        rgb = rgb[offset_y:y2, offset_x:x2]
    lines = []
    for text, confidence, quad in run_engine(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        if confidence < min_confidence or not text.strip():
            continue
        xs, ys = quad[:, 0], quad[:, 1]
        bbox = (
            int(xs.min()) + offset_x,
            int(ys.min()) + offset_y,
            int(np.ceil(xs.max())) + offset_x,
            int(np.ceil(ys.max())) + offset_y,
        )
        lines.append(OcrLine(text=text, confidence=round(confidence, 4), box=bbox))
    return OcrResult(lines=lines, text="\n".join(line.text for line in lines))


def read_text(image: Image.Image) -> str:
    """All text in an RGB image as one string (the whole-image `ocr` call, for Python callers)."""
    return ocr(image).text
