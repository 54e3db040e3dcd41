"""`detect`: find objects — coloured shapes and faces built in, other detectors plugged in.

Built in, with OpenCV and no weights to download:
- `shapes`: every pixel gets a colour name (HSV rules below); each colour's mask is cleaned with
  a morphological opening (this drops anti-aliased rims), split into connected regions, and each
  region's outline is classified as circle, ellipse, triangle, square, rectangle, pentagon,
  hexagon, star or blob. The background is the colour that covers most of the image border.
  On a textured background (a photo, a gradient, noise) a colour's mask also runs through
  smooth shading, where one colour name gives way to the next without any edge. There the masks
  are cut along strong edges, and a region counts only if most of its outline is a strong edge:
  a painted object has an outline, a band of shading does not. There a region of the background's
  colour counts too (a green ball on grass).
- `faces`: OpenCV's Haar frontal-face cascade.

Other detectors (ONNX YOLO models, transformers zero-shot detectors, VLM grounding) implement
the `Detector` protocol and are added with `register_detector`.
"""

from __future__ import annotations

import threading
from typing import Protocol

import cv2
import numpy as np
from PIL import Image
from pydantic import BaseModel

from scrutiny.core.images import pixels
from scrutiny.tools.base import RESULTS, ImageArg, ToolError, ToolResult, tool
from scrutiny.tools.boxes import Box, Units, to_pixels

COLOR_NAMES = ("black", "white", "gray", "red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink", "brown")
SHAPE_NAMES = ("circle", "ellipse", "triangle", "square", "rectangle", "pentagon", "hexagon", "star", "blob")
MIN_AREA_FRACTION = 0.0015
TEXTURED = 4.0
"""An image whose median edge strength (mean Sobel magnitude over RGB) exceeds this is textured."""
STRONG_EDGE = 3.0
"""An outline's edge strength, as a multiple of the image's median edge strength: about 40 (a step of
10 levels) on a scene with noise of std 3, whose own edges stay below 35."""
OUTLINED = 0.5
"""On a textured image, a region counts when this share of its outline (inside the frame) is strong."""
"""Regions smaller than this share of the image are noise, not objects."""


class Detection(BaseModel):
    label: str
    """What was found: a shape name, `face`, or a plug-in detector's class name."""
    color: str | None = None
    box: tuple[int, int, int, int]
    """[x1, y1, x2, y2] in pixels."""
    area: int = 0
    """Pixels that belong to the object (0 when the detector gives only a box)."""
    score: float = 1.0
    detector: str
    colors: dict[str, float] = {}
    """Shares of the colour names of the object (detectors of objects, not of shapes): measured on the
    object for the classes `detect` was asked the colours of, else in the middle of the box."""
    cut: float | None = None
    """How much of the box the object's outline took when its colours were measured on the object
    (None: measured in the middle of the box)."""


class DetectResult(ToolResult):
    detections: list[Detection]
    counts: dict[str, int]
    """How many of each `color label` (and each bare label) were found."""
    background: str | None = None
    width: int
    height: int


class Detector(Protocol):
    """A detector plug-in. `query` is free text ("red circle", "dog"); None means everything."""

    name: str

    def detect(self, image: Image.Image, query: str | None) -> list[Detection]: ...


# 1. colour naming, vectorised over HSV (OpenCV ranges: H 0..179, S and V 0..255)


def color_map(hsv: np.ndarray) -> np.ndarray:
    """Per-pixel index into COLOR_NAMES."""
    h, s, v = (hsv[..., i].astype(np.int16) for i in range(3))
    hue_names = np.select(
        [h < 8, h < 20, h < 34, h < 85, h < 100, h < 130, h < 150, h < 170],
        [3, 4, 5, 6, 7, 8, 9, 10],
        default=3,
    )
    # Dark oranges and reds are brown (and a dull, dark red like (92, 61, 63) is a brown, not a red);
    # pale reds are pink.
    hue_names = np.where((hue_names == 4) & (v < 170), 11, hue_names)
    hue_names = np.where((hue_names == 3) & (s < 110) & (v < 140), 11, hue_names)
    hue_names = np.where((hue_names == 3) & (s < 140) & (v > 180), 10, hue_names)
    achromatic = np.select([v < 60, (s < 40) & (v > 200)], [0, 1], default=2)
    return np.where((v < 60) | (s < 40), achromatic, hue_names).astype(np.uint8)


def color_name(rgb: tuple[int, int, int]) -> str:
    hsv = cv2.cvtColor(np.uint8([[rgb]]), cv2.COLOR_RGB2HSV)
    return COLOR_NAMES[int(color_map(hsv)[0, 0])]


# 2. shape classification of one outline


def classify_shape(contour: np.ndarray) -> str:
    area = cv2.contourArea(contour)
    perimeter = cv2.arcLength(contour, True)
    if area <= 0 or perimeter <= 0:
        return "blob"
    circularity = 4 * np.pi * area / perimeter**2
    solidity = area / max(cv2.contourArea(cv2.convexHull(contour)), 1e-9)
    vertices = len(cv2.approxPolyDP(contour, 0.03 * perimeter, True))
    (_, _), (w, h), _ = cv2.minAreaRect(contour)
    aspect = min(w, h) / max(w, h, 1e-9)
    if solidity < 0.75:
        return "star" if vertices >= 8 else "blob"
    if vertices == 3:
        return "triangle"
    if vertices == 4 and area / max(w * h, 1e-9) > 0.85:
        return "square" if aspect > 0.9 else "rectangle"
    if circularity > 0.8 and vertices > 6:
        return "circle" if aspect > 0.9 else "ellipse"
    if vertices == 5:
        return "pentagon"
    if vertices == 6:
        return "hexagon"
    return "ellipse" if circularity > 0.7 else "blob"


# 3. the built-in detectors


class ShapeDetector:
    """Coloured regions and their shapes (see the module docstring)."""

    name = "shapes"

    def detect(self, image: Image.Image, query: str | None) -> list[Detection]:
        return [d for d in self.analyse(image)[0] if matches_query(d, query)]

    def analyse(self, image: Image.Image) -> tuple[list[Detection], str]:
        """Every coloured region, top to bottom, and the background colour's name."""
        rgb = pixels(image)
        names = color_map(cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV))
        background = self.background(names)
        min_area = MIN_AREA_FRACTION * names.size
        size = max(3, round(min(names.shape) / 150)) | 1
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
        edges = edge_strength(rgb)
        strong, near, median = None, None, float(np.median(edges))
        if median > TEXTURED:
            strong = cv2.dilate((edges > STRONG_EDGE * median).astype(np.uint8), np.ones((3, 3), np.uint8))
            near = cv2.dilate(strong, np.ones((5, 5), np.uint8))  # one step outward from a cut outline
        found = []
        for index in np.unique(names):
            if index == background and strong is None:  # on a textured image, shading has no outline
                continue
            raw = (names == index).astype(np.uint8)
            mask = cv2.morphologyEx(raw if strong is None else raw & (1 - strong), cv2.MORPH_OPEN, kernel)
            contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
            for contour in contours:
                area = cv2.contourArea(contour)
                if area < min_area or (near is not None and not _outlined(contour, near)):
                    continue
                found.append(
                    Detection(
                        label=classify_shape(contour),
                        color=COLOR_NAMES[index],
                        box=_exact_box(raw, contour, size),
                        area=int(area),
                        score=1.0,
                        detector=self.name,
                    )
                )
        found.sort(key=lambda d: (d.box[1], d.box[0]))
        return found, COLOR_NAMES[background]

    @staticmethod
    def background(names: np.ndarray) -> int:
        border = np.concatenate([names[0], names[-1], names[:, 0], names[:, -1]])
        return int(np.bincount(border, minlength=len(COLOR_NAMES)).argmax())


def edge_strength(rgb: np.ndarray) -> np.ndarray:
    """Per-pixel Sobel gradient magnitude, averaged over the three channels."""
    image = rgb.astype(np.float32)
    total = np.zeros(image.shape[:2], np.float32)
    for c in range(3):
        total += cv2.magnitude(cv2.Sobel(image[..., c], cv2.CV_32F, 1, 0), cv2.Sobel(image[..., c], cv2.CV_32F, 0, 1))
    return total / 3


def _outlined(contour: np.ndarray, near: np.ndarray) -> bool:
    """Whether most of the region's outline, where it is not the image border, lies next to a strong
    edge (`near`: the strong-edge band, widened). The mask was cut along strong edges, so a painted
    region's outline runs just inside its edge band."""
    height, width = near.shape
    points = contour[:, 0, :]
    inner = points[(points[:, 0] > 1) & (points[:, 0] < width - 2) & (points[:, 1] > 1) & (points[:, 1] < height - 2)]
    if len(inner) == 0:
        return False
    return float(near[inner[:, 1], inner[:, 0]].mean()) >= OUTLINED


def _exact_box(raw: np.ndarray, contour: np.ndarray, pad: int) -> tuple[int, int, int, int]:
    """Box of the region before the opening, which shaved off sharp tips (a triangle's apex)."""
    x, y, w, h = cv2.boundingRect(contour)
    x0, y0 = max(0, x - pad), max(0, y - pad)
    x1, y1 = min(raw.shape[1], x + w + pad), min(raw.shape[0], y + h + pad)
    own = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.drawContours(own, [contour - [x0, y0]], -1, 1, thickness=cv2.FILLED)
    own = cv2.dilate(own, np.ones((2 * pad + 1, 2 * pad + 1), np.uint8)) & raw[y0:y1, x0:x1]
    bx, by, bw, bh = cv2.boundingRect(own)
    return (x0 + bx, y0 + by, x0 + bx + bw, y0 + by + bh)


class FaceDetector:
    """OpenCV's Haar frontal-face cascade (shipped with opencv-python-headless 4.x)."""

    name = "faces"
    _cascade: cv2.CascadeClassifier | None = None
    _lock = threading.Lock()

    def cascade(self) -> cv2.CascadeClassifier:
        with self._lock:
            if FaceDetector._cascade is None:
                path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
                cascade = cv2.CascadeClassifier(path)
                if cascade.empty():
                    raise RuntimeError(f"OpenCV's face cascade did not load from {path}")
                FaceDetector._cascade = cascade
            return FaceDetector._cascade

    def detect(self, image: Image.Image, query: str | None, region: tuple | None = None) -> list[Detection]:
        """Faces in the image, or only in `region` (pixels): the faces a search of the whole image finds
        there, to a pixel or two (the smallest face looked for is still a twentieth of the image's short
        side, and the histogram is the whole image's)."""
        gray = cv2.equalizeHist(cv2.cvtColor(pixels(image), cv2.COLOR_RGB2GRAY))  # of the whole image
        side = max(24, min(gray.shape) // 20)  # the smallest face looked for: a twentieth of the short side
        x0, y0 = (region[0], region[1]) if region else (0, 0)  # (the cascade's windows then fall a pixel or two apart)
        if region:
            gray = gray[region[1] : region[3], region[0] : region[2]]
            if min(gray.shape) < side:
                return []
        # a large image is searched shrunk so that smallest face is the cascade's own 24-pixel window:
        # the same faces, at a cost that stops growing with the pixels
        scale = 24 / side if side > FACE_SHRINK_ABOVE else 1.0
        if scale < 1:
            gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            side = 24
        faces = self.cascade().detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(side, side))
        return [_face(x0 + x / scale, y0 + y / scale, w / scale, h / scale, self.name) for x, y, w, h in faces]


FACE_SHRINK_ABOVE = 32
"""Images whose smallest face to look for is larger than this (a short side over 640 pixels) are
searched shrunk."""


def _face(x: float, y: float, w: float, h: float, detector: str) -> Detection:
    box = (int(round(x)), int(round(y)), int(round(x + w)), int(round(y + h)))
    return Detection(label="face", box=box, area=(box[2] - box[0]) * (box[3] - box[1]), detector=detector)


DETECTORS: dict[str, Detector] = {"shapes": ShapeDetector(), "faces": FaceDetector()}


def register_detector(detector: Detector) -> None:
    """Add a detector plug-in; `detect(..., detector=name)` then uses it (and what detectors found
    before it is not reused)."""
    DETECTORS[detector.name] = detector
    RESULTS.forget()


def matches_query(detection: Detection, query: str | None) -> bool:
    """A shape detection matches when every colour and shape word of the query agrees with it."""
    if not query:
        return True
    terms = query.lower().replace("-", " ").split()
    colors = [t for t in terms if t in COLOR_NAMES]
    shapes = [_singular(t) for t in terms if _singular(t) in SHAPE_NAMES]
    return all(c == detection.color for c in colors) and all(s == detection.label for s in shapes)


def _singular(word: str) -> str:
    return word[:-1] if word.endswith("s") and word[:-1] in SHAPE_NAMES else word


def _counts(detections: list[Detection]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for d in detections:
        for key in {d.label, f"{d.color} {d.label}" if d.color else d.label}:
            counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))


def _detect_in(image, region: tuple, query, detector: str, colors_of) -> DetectResult:
    """A search of one region: faces searched there as in the whole image, any other detector on the
    region cut out, its boxes moved back into the whole image's pixels."""
    x1, y1, x2, y2 = region
    if detector == "faces" or (detector == "auto" and query and "face" in query.lower()):
        found = DETECTORS["faces"].detect(image, query, region=region)
        return DetectResult(detections=found, counts=_counts(found), width=image.width, height=image.height)
    inner = detect.fn(image.crop(region), query, detector, colors_of)
    moved = [
        d.model_copy(update={"box": (d.box[0] + x1, d.box[1] + y1, d.box[2] + x1, d.box[3] + y1)})
        for d in inner.detections
    ]
    return DetectResult(detections=moved, counts=inner.counts, width=image.width, height=image.height)


def _with_colours(rgb: np.ndarray, found: list[Detection], on_object: set[str]) -> list[Detection]:
    """Each find of an object detector with its colours (`tools/colours.py`): on the object for the
    classes in `on_object`, in the middle of the box for the rest."""
    from scrutiny.tools.colours import middle_colours, object_colours

    out = []
    for d in found:
        if d.detector in ("shapes", "faces") or d.colors:
            out.append(d)
            continue
        measured = object_colours(rgb, d.box) if d.label in on_object else middle_colours(rgb, d.box)
        colors = measured.shares
        out.append(d.model_copy(update={"colors": colors, "color": next(iter(colors), None), "cut": measured.cut}))
    return out


@tool(memo=True)
def detect(
    image: ImageArg,
    query: str | None = None,
    detector: str = "auto",
    colors_of: list[str] | None = None,
    box: Box | None = None,
    units: Units = "norm1000",
) -> DetectResult:
    """Find objects in an image with their boxes, colours and counts.

    Args:
        image: Name of the image to search.
        query: What to look for, e.g. "red circle", "triangles", "face"; empty finds everything.
        detector: "auto" (faces for a face query, shapes otherwise), "shapes", "faces", "coco" (the
            80 COCO object classes), or a registered plug-in detector.
        colors_of: Classes whose colours to measure on the object itself (its outline cut from the
            box); others are measured in the middle of their box.
        box: Optional region [x1, y1, x2, y2] to search instead of the whole image (boxes found are
            still in pixels of the whole image).
        units: "norm1000" for coordinates scaled to 0..1000 on both axes, "pixel" for pixels.
    """
    if box is not None:
        return _detect_in(image, to_pixels(box, units, image.size), query, detector, colors_of)
    if detector == "auto":
        detector = "faces" if query and any(w in query.lower() for w in ("face", "person", "people")) else "shapes"
    if detector not in DETECTORS:
        raise ToolError(f"no detector named {detector!r}; available: auto, {', '.join(sorted(DETECTORS))}")
    plugin = DETECTORS[detector]
    background = None
    if isinstance(plugin, ShapeDetector):
        everything, background = plugin.analyse(image)
        found = [d for d in everything if matches_query(d, query)]
    else:
        found = _with_colours(pixels(image), plugin.detect(image, query), set(colors_of or ()))
    return DetectResult(
        detections=found, counts=_counts(found), background=background, width=image.width, height=image.height
    )
