"""scrutiny: judge generated and edited images the way a careful critic would.

It looks closely (crop, zoom), reads (OCR), finds things (detect), compares with the source
(diff), and explains its verdict. The public surface is the names in `__all__`.
"""

from scrutiny.api import Judge, JudgeConfig, __version__, compare, edit, judge, rank
from scrutiny.core.images import ImageError, load_image
from scrutiny.core.schema import Criterion, CriterionScore, Evidence, Task, Trace, Verdict
from scrutiny.memory import Store
from scrutiny.refinement import RefineResult, arefine, refine

__all__ = [
    "Criterion",
    "CriterionScore",
    "Evidence",
    "ImageError",
    "Judge",
    "JudgeConfig",
    "Store",
    "Task",
    "Trace",
    "RefineResult",
    "Verdict",
    "__version__",
    "arefine",
    "compare",
    "edit",
    "judge",
    "load_image",
    "rank",
    "refine",
]
