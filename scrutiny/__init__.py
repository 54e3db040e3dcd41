"""scrutiny: judge generated and edited images the way a careful critic would.

It looks closely (crop, zoom), reads (OCR), finds things (detect), compares with the source
(diff), and explains its verdict. The public surface is the names in `__all__`.

The names load on first use (PEP 562), so `import scrutiny` is cheap and `import scrutiny.core.schema`
loads nothing above the core: no OpenCV, LangGraph or SQLModel, and no tool looks at its environment.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_WHERE = {
    "Judge": "scrutiny.api",
    "JudgeConfig": "scrutiny.api",
    "compare": "scrutiny.api",
    "edit": "scrutiny.api",
    "judge": "scrutiny.api",
    "rank": "scrutiny.api",
    "ImageError": "scrutiny.core.images",
    "load_image": "scrutiny.core.images",
    "Criterion": "scrutiny.core.schema",
    "CriterionScore": "scrutiny.core.schema",
    "Evidence": "scrutiny.core.schema",
    "Task": "scrutiny.core.schema",
    "Trace": "scrutiny.core.schema",
    "Verdict": "scrutiny.core.schema",
    "Store": "scrutiny.memory",
    "RefineResult": "scrutiny.refinement",
    "arefine": "scrutiny.refinement",
    "refine": "scrutiny.refinement",
}
"""Each public name and the module it lives in."""

__all__ = [
    "Criterion",
    "CriterionScore",
    "Evidence",
    "ImageError",
    "Judge",
    "JudgeConfig",
    "RefineResult",
    "Store",
    "Task",
    "Trace",
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


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'scrutiny' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})


if TYPE_CHECKING:
    from scrutiny.api import Judge, JudgeConfig, compare, edit, judge, rank
    from scrutiny.core.images import ImageError, load_image
    from scrutiny.core.schema import Criterion, CriterionScore, Evidence, Task, Trace, Verdict
    from scrutiny.memory import Store
    from scrutiny.refinement import RefineResult, arefine, refine
