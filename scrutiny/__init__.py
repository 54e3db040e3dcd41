"""scrutiny: judge generated and edited images the way a careful critic would.

It looks closely (crop, zoom), reads (OCR), finds things (detect), compares with the source
(diff), and explains its verdict. The public surface is the names in `__all__`.
"""

from scrutiny.images import ImageError, load_image
from scrutiny.schema import Criterion, CriterionScore, Evidence, Task, Trace, Verdict

__version__ = "0.1.0"

__all__ = [
    "Criterion", "CriterionScore", "Evidence", "ImageError", "Task", "Trace", "Verdict", "__version__", "load_image",
]
