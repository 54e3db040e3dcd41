"""MiniLM sentence embeddings in numpy, for the skill router.

The `[embed]` extra ships all-MiniLM-L6-v2 (safetensors, tokenizer) inside a package. Loading it
through sentence-transformers imports torch and transformers: about 8 s and some 400k Python
objects in every judge process, which then slow down every garbage collection. The model is small
(6 layers, 384 wide), so this module runs the same computation in numpy: a BERT encoder, mean
pooling over the tokens, L2 normalisation. It reads the weights straight from the safetensors
file and tokenizes with the model's own `tokenizer.json` (the `tokenizers` library, no torch).
"""

from __future__ import annotations

import contextlib
import json
import math
import struct
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager as ContextManager
from pathlib import Path

import numpy as np

_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


def load_safetensors(path: str | Path) -> dict[str, np.ndarray]:
    """Every tensor of a safetensors file as a numpy array (the format: a little-endian u64 header
    length, a JSON header of dtype, shape and byte offsets, then the raw data)."""
    data = np.memmap(path, dtype=np.uint8, mode="r")  # pages are read when used (most embedding rows never are)
    (length,) = struct.unpack("<Q", data[:8].tobytes())
    header = json.loads(data[8 : 8 + length].tobytes())
    tensors = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        start, end = (8 + length + offset for offset in spec["data_offsets"])
        tensors[name] = data[start:end].view(_DTYPES[spec["dtype"]]).reshape(spec["shape"])
    return tensors


def _one_blas_thread() -> Callable[[], ContextManager]:
    """A context that runs numpy's BLAS on one thread (through threadpoolctl; nothing without it)."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return contextlib.nullcontext
    blas = ThreadpoolController().select(user_api="blas")
    return lambda: blas.limit(limits=1)


def _erf(x: np.ndarray) -> np.ndarray:
    # Abramowitz & Stegun 7.1.26, |error| < 1.5e-7 (numpy has no erf; BERT's GELU is the exact one)
    sign, a = np.sign(x), np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t
    return sign * (1.0 - poly * np.exp(-a * a))


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x * (1.0 / math.sqrt(2.0))))


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + np.float32(eps)) * weight + bias


class MiniLM:
    """A sentence-transformers MiniLM (BERT encoder + mean pooling + normalisation) from its folder."""

    def __init__(self, folder: str | Path):
        from tokenizers import Tokenizer

        folder = Path(folder)
        config = json.loads((folder / "config.json").read_text())
        self.heads = config["num_attention_heads"]
        self.layers = config["num_hidden_layers"]
        self.eps = config["layer_norm_eps"]
        self.w = load_safetensors(folder / "model.safetensors")
        # dense layers transposed once, into memory (a matmul with a transposed memory-mapped view
        # copies the matrix on every call); the embedding tables stay mapped, only used rows are read
        for name in [n for n in self.w if n.endswith(".weight") and self.w[n].ndim == 2 and n.startswith("encoder.")]:
            self.w[name[: -len(".weight")] + ".kernel"] = np.ascontiguousarray(self.w.pop(name).T)
        max_length = json.loads((folder / "sentence_bert_config.json").read_text())["max_seq_length"]
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length)
        self.tokenizer.enable_padding(pad_id=config.get("pad_token_id", 0))
        self._lock = threading.Lock()
        self._one_blas_thread = _one_blas_thread()

    def encode(self, texts: list[str]) -> np.ndarray:
        """[N, 384] unit vectors, one per text.

        The matrices are small: BLAS runs on one thread meanwhile, since its thread pool otherwise
        fights the OCR engine's for the same cores (a judgment runs both, one after the other)."""
        with self._lock, self._one_blas_thread():
            return self._encode(texts)

    def _encode(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encodings])
        mask = np.array([e.attention_mask for e in encodings], dtype=np.float32)
        types = np.array([e.type_ids for e in encodings])
        w, (batch, length) = self.w, ids.shape
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:length]
            + w["embeddings.token_type_embeddings.weight"][types]
        )
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps)
        hidden = x.shape[-1]
        size = hidden // self.heads
        blocked = (1.0 - mask)[:, None, None, :] * np.float32(-1e9)  # padding takes no attention
        for i in range(self.layers):
            p = f"encoder.layer.{i}."

            def dense(v: np.ndarray, name: str) -> np.ndarray:
                return v @ w[p + name + ".kernel"] + w[p + name + ".bias"]

            def split(v: np.ndarray) -> np.ndarray:  # [B, L, H*d] -> [B, H, L, d]
                return v.reshape(batch, length, self.heads, size).transpose(0, 2, 1, 3)

            q, k, v = (split(dense(x, f"attention.self.{n}")) for n in ("query", "key", "value"))
            scores = q @ k.transpose(0, 1, 3, 2) * (1.0 / math.sqrt(size)) + blocked
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            context = (scores / scores.sum(-1, keepdims=True)) @ v
            context = context.transpose(0, 2, 1, 3).reshape(batch, length, hidden)
            x = _layer_norm(
                x + dense(context, "attention.output.dense"),
                w[p + "attention.output.LayerNorm.weight"],
                w[p + "attention.output.LayerNorm.bias"],
                self.eps,
            )
            x = _layer_norm(
                x + dense(_gelu(dense(x, "intermediate.dense")), "output.dense"),
                w[p + "output.LayerNorm.weight"],
                w[p + "output.LayerNorm.bias"],
                self.eps,
            )
        pooled = (x * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
