"""onnxruntime sessions that do not spin.

By default each session's thread pool spins for a while after every run, waiting for more work.
A judgment runs several small models one after another (OCR's detector, angle classifier and
recogniser; a face or object detector), and on a machine with few cores the pools of the models
that just ran spin on the cores the next one needs. With spinning off, OCR on two cores took
0.58 of the time and 0.52 of the CPU (`benchmarks/judge.py` prints the bare engine's rate).
"""

from __future__ import annotations

from typing import Any

NO_SPINNING = {"session.intra_op.allow_spinning": "0", "session.inter_op.allow_spinning": "0"}


def session_options(options: Any = None) -> Any:
    """`options` (new ones if None) with the thread pools' spinning turned off."""
    import onnxruntime

    options = options or onnxruntime.SessionOptions()
    for key, value in NO_SPINNING.items():
        options.add_session_config_entry(key, value)
    return options


def session(path: str, options: Any = None, providers: list[str] | None = None) -> Any:
    """An `onnxruntime.InferenceSession` of the model at `path` that does not spin."""
    import onnxruntime

    return onnxruntime.InferenceSession(
        path, sess_options=session_options(options), providers=providers or ["CPUExecutionProvider"]
    )


def without_spinning(running: Any) -> Any:
    """The same model as the session `running`, loaded again with its options and spinning off
    (for sessions a library builds itself). `running` is returned as it is where its file is unknown."""
    path = getattr(running, "_model_path", None)
    if not path:
        return running
    return session(str(path), running.get_session_options(), running.get_providers())
