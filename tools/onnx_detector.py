"""Object detectors a user has as ONNX files: YOLO (v5/v8/v11 exports) and RT-DETR class detectors.

    from scrutiny.tools.onnx_detector import OnnxDetector
    from scrutiny.tools.detect import register_detector
    register_detector(OnnxDetector("yolov8s.onnx"))         # takes the "coco" slot: COCO classes

or `SCRUTINY_DETECTOR=yolov8s.onnx` in the environment. Nothing is downloaded: the file is yours.
The model runs on onnxruntime (a core dependency). The input is letterboxed to the model's square
input size; boxes are mapped back to the image's pixels. Two output layouts are read:

- YOLO: `[1, 4 + C, N]` (or `[1, N, 4 + C]`): centre x, centre y, width, height in input pixels,
  then C class scores (v8/v11); a v5 export has an objectness column before the classes
  (`[1, N, 5 + C]`), which multiplies them.
- RT-DETR: `[1, N, 4 + C]` with boxes as centre/size fractions of the input (all at most 1).

Class names come from the file's metadata (`names`, as Ultralytics writes it), else `classes=`,
else the 80 COCO classes in the contiguous order YOLO uses. A detector over COCO classes is named
"coco", so the judge's planner uses it for every COCO object in a prompt.
"""

from __future__ import annotations

import ast
import os
import threading
from pathlib import Path

import numpy as np
from PIL import Image

from scrutiny.tools.boxes import suppress
from scrutiny.tools.coco import _IDS, COCO_CLASSES, coco_class
from scrutiny.tools.detect import Detection, register_detector

YOLO_COCO = [name for _, name in sorted(_IDS.items())]
"""The 80 COCO classes in the contiguous order of YOLO and RT-DETR exports."""


class OnnxDetector:
    """A class detector from an ONNX file (see the module docstring)."""

    def __init__(
        self,
        path: str | Path,
        *,
        classes: list[str] | None = None,
        name: str | None = None,
        min_confidence: float = 0.3,
        overlap: float = 0.5,
    ):
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"no detector file at {path}: export one (e.g. `yolo export model=yolov8s.pt format=onnx`) "
                "and pass its path"
            )
        from scrutiny.core.onnx import session

        self.path = path
        self.session = session(str(path))
        meta = self.session.get_modelmeta().custom_metadata_map
        self.classes = classes or _names(meta.get("names")) or YOLO_COCO
        self.name = name or ("coco" if set(self.classes) <= COCO_CLASSES else path.stem)
        self.min_confidence, self.overlap = min_confidence, overlap
        shape = self.session.get_inputs()[0].shape  # [1, 3, H, W]; dynamic sides read as 640
        self.side = next((s for s in shape[2:] if isinstance(s, int)), 640)
        self._lock = threading.Lock()

    def detect(self, image: Image.Image, query: str | None) -> list[Detection]:
        wanted = coco_class(query) or query if query else None
        rgb = image.convert("RGB")
        scale = self.side / max(rgb.size)
        resized = rgb.resize((max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale))), Image.BILINEAR)
        canvas = Image.new("RGB", (self.side, self.side), (114, 114, 114))
        canvas.paste(resized, (0, 0))  # letterbox: padding at the right or bottom, so no offset
        x = np.asarray(canvas, np.float32).transpose(2, 0, 1)[None] / 255.0  # [1, 3, S, S]
        with self._lock:
            out = self.session.run(None, {self.session.get_inputs()[0].name: x})[0]
        found = []
        for label, score, box in self._decode(np.asarray(out)[0]):
            if wanted and label != wanted:
                continue
            x1, y1, x2, y2 = (v / scale for v in box)
            x1, y1 = max(0, int(round(x1))), max(0, int(round(y1)))
            x2, y2 = min(image.width, int(round(x2))), min(image.height, int(round(y2)))
            if x2 > x1 and y2 > y1:
                found.append(Detection(label=label, box=(x1, y1, x2, y2), score=round(score, 4), detector=self.name))
        return found

    def _decode(self, out: np.ndarray) -> list[tuple[str, float, tuple[float, float, float, float]]]:
        """(label, confidence, box in input pixels), after per-class non-maximum suppression."""
        c = len(self.classes)
        if out.shape[0] in (4 + c, 5 + c) and out.shape[1] not in (4 + c, 5 + c):
            out = out.T  # YOLOv8 writes [4 + C, N]
        if out.shape[1] == 5 + c:  # YOLOv5: objectness times class scores
            scores = out[:, 5:] * out[:, 4:5]
        elif out.shape[1] == 4 + c:
            scores = out[:, 4:]
        else:
            raise ValueError(
                f"{self.path.name}: output shape {list(out.shape)} does not fit {c} classes "
                "(expected [4+C, N], [N, 4+C] or [N, 5+C]); pass classes= to match the model"
            )
        boxes = out[:, :4].astype(np.float64)
        if boxes.max(initial=0.0) <= 1.5:  # RT-DETR: fractions of the input
            boxes = boxes * self.side
        cx, cy, w, h = boxes.T
        corners = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
        best = scores.argmax(axis=1)
        confidence = scores[np.arange(len(scores)), best]
        finds = [
            (self.classes[best[k]], float(confidence[k]), tuple(float(v) for v in corners[k]))
            for k in np.flatnonzero(confidence >= self.min_confidence)
        ]
        return suppress(finds, self.overlap)


def _names(raw: str | None) -> list[str] | None:
    """Ultralytics writes `names` as a Python dict literal: {0: 'person', 1: 'bicycle', ...}."""
    if not raw:
        return None
    try:
        names = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return None
    if isinstance(names, dict):
        return [str(names[k]) for k in sorted(names)]
    return [str(n) for n in names] if isinstance(names, list) else None


class FromEnvironment:
    """The detector `SCRUTINY_DETECTOR` names (a path to an .onnx file of a COCO-class detector), in the
    "coco" slot; the file is read on first use, and a missing file is a one-line error then."""

    name = "coco"

    def __init__(self, path: str):
        self.path = path
        self._detector: OnnxDetector | None = None

    def detect(self, image: Image.Image, query: str | None) -> list[Detection]:
        if self._detector is None:
            try:
                self._detector = OnnxDetector(self.path, name="coco")
            except FileNotFoundError as e:
                raise FileNotFoundError(f"SCRUTINY_DETECTOR: {e}") from None
        return self._detector.detect(image, query)


def from_environment() -> FromEnvironment | None:
    """Register the detector `SCRUTINY_DETECTOR` names, if it is set."""
    path = os.environ.get("SCRUTINY_DETECTOR")
    if not path:
        return None
    detector = FromEnvironment(path)
    register_detector(detector)
    return detector
