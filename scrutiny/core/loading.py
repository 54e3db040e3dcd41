"""Objects named on a command line or in a config file: `module:attr` or `path/to/file.py:attr`."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any


def load_object(spec: str, what: str = "object") -> Any:
    """The object `spec` names: `package.module:attr`, or `file.py:attr` for a file (relative to the
    current folder, which is importable too, as it is for `python -m`). `what` names it in errors."""
    location, _, attr = spec.rpartition(":")
    if not location or not attr:
        raise ValueError(f"{what} {spec!r} must look like module:function or path/to/file.py:function")
    if location.endswith(".py"):
        module = _module_from_file(Path(location), what)
    else:
        if "" not in sys.path and str(Path.cwd()) not in sys.path:
            sys.path.insert(0, str(Path.cwd()))
        try:
            module = importlib.import_module(location)
        except ImportError as e:
            raise ValueError(f"cannot import the module of {what} {spec!r}: {e}") from None
    if not hasattr(module, attr):
        raise ValueError(f"{location} has no attribute {attr!r} (the {what} {spec!r})")
    return getattr(module, attr)


def _module_from_file(path: Path, what: str) -> Any:
    if not path.is_file():
        raise ValueError(f"{what}: no file {path}")
    name = f"_scrutiny_loaded_{path.resolve().stem}_{abs(hash(str(path.resolve())))}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        del sys.modules[name]
        raise ValueError(f"{what}: importing {path} failed: {type(e).__name__}: {e}") from None
    return module
