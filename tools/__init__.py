"""Pixel tools the judge uses to look closely: crop, zoom, ocr, text_match, detect, palette, diff,
quality, degenerate, safety.

Importing this package registers every built-in tool in `REGISTRY`. Heavy engines (RapidOCR,
NudeNet) load on first use.
"""

from scrutiny.tools import open_vocab
from scrutiny.tools import open_vocab as hf  # the name it had before 0.2: `scrutiny.tools.hf.use(...)` still works
from scrutiny.tools.base import (
    REGISTRY,
    ImageArg,
    Injected,
    Tool,
    ToolCall,
    ToolError,
    ToolResult,
    get_tool,
    tool,
    tool_schemas,
)
from scrutiny.tools.coco import COCO_CLASSES, coco_class
from scrutiny.tools.crop import crop, zoom
from scrutiny.tools.degenerate import degenerate
from scrutiny.tools.detect import Detection, Detector, detect, register_detector
from scrutiny.tools.diff import diff
from scrutiny.tools.ocr import ocr
from scrutiny.tools.onnx_detector import OnnxDetector, from_environment
from scrutiny.tools.palette import palette
from scrutiny.tools.quality import quality
from scrutiny.tools.safety import safety
from scrutiny.tools.text_match import match_text, ocr_score, strict_score, text_match

__all__ = [
    "REGISTRY",
    "hf",
    "open_vocab",
    "OnnxDetector",
    "COCO_CLASSES",
    "Detection",
    "Detector",
    "ImageArg",
    "Injected",
    "Tool",
    "ToolCall",
    "ToolError",
    "ToolResult",
    "coco_class",
    "crop",
    "degenerate",
    "detect",
    "diff",
    "get_tool",
    "match_text",
    "ocr",
    "ocr_score",
    "quality",
    "register_detector",
    "palette",
    "safety",
    "strict_score",
    "text_match",
    "tool",
    "tool_schemas",
    "zoom",
]

from_environment()  # SCRUTINY_DETECTOR: a user's ONNX detector in the "coco" slot
open_vocab.from_environment()  # SCRUTINY_OPEN_DETECTOR: OWLv2 from the local Hugging Face cache
