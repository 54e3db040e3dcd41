"""Open-vocabulary tools from Hugging Face `transformers`, for machines with the weights in the
local Hugging Face cache: nothing is ever downloaded (`local_files_only=True`).

- `OwlDetector` (OWLv2): finds whatever a query names ("a lamp", "a plum branch"), not only COCO's
  80 classes. Registered as the detector "open"; the offline policy then checks objects outside COCO.
- `ClipScorer` (CLIP or SigLIP): how well an image matches each of several texts. Registered as the
  image-text scorer; the `similarity` tool and the offline policy then check attributes ("the cat
  is happy"), actions and whole-image properties (style, medium, lighting) by contrast: the asked
  text against its alternatives ("a red sofa" against "a blue sofa", ...).

    from scrutiny.tools import open_vocab
    open_vocab.use(detector="google/owlv2-base-patch16-ensemble", scorer="openai/clip-vit-base-patch32")

or `SCRUTINY_OPEN_DETECTOR` / `SCRUTINY_CLIP` in the environment (a model id in the cache, or a
folder). torch and transformers come with the `[train]` extra; the judge imports them only when
one of these is in use.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np
from PIL import Image
from pydantic import Field

from scrutiny.tools.base import ImageArg, ToolError, ToolResult, tool
from scrutiny.tools.boxes import suppress
from scrutiny.tools.detect import Detection, register_detector

OWL_MEAN = (0.48145466, 0.4578275, 0.40821073)
OWL_STD = (0.26862954, 0.26130258, 0.27577711)
"""CLIP's pixel normalisation, which OWLv2 uses too."""


def _load(kind: str, model: str) -> tuple[Any, Any]:
    """(model, tokenizer) from the local cache or a folder; a one-line error when it is not there."""
    try:
        import transformers
    except ModuleNotFoundError:
        raise RuntimeError(f"the {kind} needs torch and transformers: pip install 'scrutiny[train]'") from None
    classes = {"detector": transformers.Owlv2ForObjectDetection, "scorer": transformers.AutoModel}
    try:
        network = classes[kind].from_pretrained(model, local_files_only=True).eval()
        tokenizer = transformers.AutoTokenizer.from_pretrained(model, local_files_only=True)
    except OSError:
        raise RuntimeError(
            f"no {kind} weights for {model!r} in the local Hugging Face cache (nothing is downloaded at run time): "
            f"on a machine with network, run `huggingface-cli download {model}` and copy the cache here"
        ) from None
    return network, tokenizer


def _pixels(image: Image.Image, side: int) -> tuple[Any, int]:
    """[1, 3, side, side] normalised pixels of the image padded to a square (grey at the right and bottom,
    as OWLv2 was trained), and the padded square's side in image pixels."""
    import torch

    square = max(image.size)
    canvas = Image.new("RGB", (square, square), (128, 128, 128))
    canvas.paste(image.convert("RGB"), (0, 0))
    x = np.asarray(canvas.resize((side, side), Image.BICUBIC), np.float32) / 255.0
    x = (x - np.array(OWL_MEAN, np.float32)) / np.array(OWL_STD, np.float32)
    return torch.from_numpy(x.transpose(2, 0, 1)[None].copy()), square


class OwlDetector:
    """OWLv2 open-vocabulary detection (see the module docstring).

    `score` in its detections is calibrated onto the scale the judge reads presence from: OWLv2's
    sigmoid score `threshold` (0.1, where its authors draw boxes) maps to 0.3, and 0.3 maps to 0.8.
    """

    name = "open"

    def __init__(
        self, model: str | Any = "google/owlv2-base-patch16-ensemble", tokenizer: Any = None, *, threshold: float = 0.1
    ):
        self.model, self.tokenizer = _load("detector", model) if isinstance(model, str) else (model, tokenizer)
        self.side = int(self.model.config.vision_config.image_size)
        self.threshold = threshold
        self._lock = threading.Lock()

    def calibrate(self, raw: float) -> float:
        return float(np.clip(0.3 + (raw - self.threshold) * 2.5, 0.0, 1.0))

    def detect(self, image: Image.Image, query: str | None) -> list[Detection]:
        import torch

        if not query:
            raise ToolError('the open-vocabulary detector finds what a query names: give one ("a lamp, a chair")')
        names = [q.strip() for q in query.split(",") if q.strip()]
        texts = [f"a photo of {'an' if n[0] in 'aeiou' else 'a'} {n}" for n in names]
        tokens = self.tokenizer(texts, padding=True, return_tensors="pt")
        pixels, square = _pixels(image, self.side)
        with self._lock, torch.no_grad():
            out = self.model(
                input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"], pixel_values=pixels
            )
        scores = torch.sigmoid(out.logits[0]).numpy()  # [patches, queries]
        boxes = out.pred_boxes[0].numpy()  # [patches, 4]: centre x, centre y, width, height of the padded square
        best = scores.argmax(axis=1)
        finds = []
        for k in np.flatnonzero(scores.max(axis=1) >= self.threshold):
            cx, cy, w, h = (float(v) * square for v in boxes[k])
            box = (max(0, round(cx - w / 2)), max(0, round(cy - h / 2)))
            box += (min(image.width, round(cx + w / 2)), min(image.height, round(cy + h / 2)))
            if box[2] > box[0] and box[3] > box[1]:
                finds.append((names[best[k]], float(scores[k, best[k]]), box))
        found = [
            Detection(label=label, box=box, score=round(self.calibrate(raw), 4), detector=self.name)
            for label, raw, box in suppress(finds)
        ]
        return found


class ClipScorer:
    """CLIP / SigLIP image-text matching: the probability of each text for an image (softmax over texts)."""

    def __init__(self, model: str | Any = "openai/clip-vit-base-patch32", tokenizer: Any = None):
        self.model, self.tokenizer = _load("scorer", model) if isinstance(model, str) else (model, tokenizer)
        self.side = int(self.model.config.vision_config.image_size)
        self._lock = threading.Lock()

    def probabilities(self, image: Image.Image, texts: list[str]) -> list[float]:
        import torch

        tokens = self.tokenizer(texts, padding=True, return_tensors="pt")
        rgb = image.convert("RGB")
        short = min(rgb.size)  # CLIP's centre crop of the shorter side
        left, top = (rgb.width - short) // 2, (rgb.height - short) // 2
        pixels, _ = _pixels(rgb.crop((left, top, left + short, top + short)), self.side)
        with self._lock, torch.no_grad():
            out = self.model(
                input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"], pixel_values=pixels
            )
        return [round(float(p), 6) for p in torch.softmax(out.logits_per_image[0], dim=-1)]


_scorer: ClipScorer | None = None


def scorer() -> ClipScorer | None:
    """The registered image-text scorer (or the one `SCRUTINY_CLIP` names, loaded on first use)."""
    global _scorer
    if _scorer is None and os.environ.get("SCRUTINY_CLIP"):
        _scorer = ClipScorer(os.environ["SCRUTINY_CLIP"])
    return _scorer


def scorer_available() -> bool:
    return _scorer is not None or bool(os.environ.get("SCRUTINY_CLIP"))


def register_scorer(s: ClipScorer | None) -> None:
    global _scorer
    _scorer = s


def use(detector: str | OwlDetector | None = None, scorer: str | ClipScorer | None = None) -> None:
    """Turn the open-vocabulary tools on (model ids in the local cache, folders, or built objects)."""
    if detector is not None:
        register_detector(OwlDetector(detector) if isinstance(detector, str) else detector)
    if scorer is not None:
        register_scorer(ClipScorer(scorer) if isinstance(scorer, str) else scorer)


class _FromEnvironment:
    """The OWLv2 model `SCRUTINY_OPEN_DETECTOR` names, loaded on first use."""

    name = "open"

    def __init__(self, model: str):
        self.model, self._detector = model, None

    def detect(self, image: Image.Image, query: str | None) -> list[Detection]:
        if self._detector is None:
            self._detector = OwlDetector(self.model)
        return self._detector.detect(image, query)


def from_environment() -> None:
    """Register the open-vocabulary detector `SCRUTINY_OPEN_DETECTOR` names, if it is set."""
    if os.environ.get("SCRUTINY_OPEN_DETECTOR"):
        register_detector(_FromEnvironment(os.environ["SCRUTINY_OPEN_DETECTOR"]))


class SimilarityResult(ToolResult):
    texts: list[str]
    probabilities: list[float] = Field(description="How well the image matches each text; they sum to 1.")


@tool
def similarity(image: ImageArg, texts: list[str]) -> SimilarityResult:
    """How well an image matches each of several texts (CLIP/SigLIP), as probabilities summing to 1.

    Give the statement to check first and its alternatives after it, e.g. ["a red sofa",
    "a blue sofa", "a green sofa"].

    Args:
        image: Name of the image to look at.
        texts: Two or more short descriptions to compare.
    """
    if len(texts) < 2:
        raise ToolError("give at least two texts: the statement and an alternative")
    s = scorer()
    if s is None:
        raise ToolError("no image-text model is set up: set SCRUTINY_CLIP to a CLIP or SigLIP model in the local cache")
    return SimilarityResult(texts=texts, probabilities=s.probabilities(image, texts))
