"""The local embedding model: batching by word pieces gives the model's own vectors."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from ingest.chunking import Chunker
from tests.test_chunking import _bbc_texts


def test_word_piece_batches_give_the_models_own_vectors(shared_data: Path, local_embeddings) -> None:
    """Vectors from `embed_documents` (batched by word-piece length) are those of
    `SentenceTransformer.encode` for the same texts, in the caller's order, also for texts the
    model truncates, empty ones and scripts the tokenizer splits finely."""
    model = local_embeddings
    assert model._batcher is not None, "all-MiniLM-L6-v2 takes the word-piece batching path"
    chunker = Chunker(chunk_tokens=180, overlap=30, fits=model.fits, span_fits=model.span_fits)
    texts = [c.text for text in _bbc_texts(shared_data, 12) for c in chunker.chunk("x", text)]
    texts += [
        _bbc_texts(shared_data, 1)[0] * 3,  # far past the 256-piece window: truncated like encode does
        "",
        "x",
        "Zwölf Boxkämpfer jagen Viktor. 東京電力公司周二表示 £3.5bn (€4.1bn) — naïve café",
        " ".join(f"{i * 7919:,}.{i % 97:02d}" for i in range(200)),
    ]
    random.Random(7).shuffle(texts)
    ours = np.array(model.embed_documents(texts))
    theirs = model.model.encode(texts, batch_size=model.batch_size, normalize_embeddings=True)
    assert ours.shape == theirs.shape
    assert np.abs(ours - theirs).max() < 1e-5
    assert model.embed_documents([]) == []


def test_a_model_whose_input_differs_keeps_sentence_transformers_encode(local_embeddings) -> None:
    """The batching path is only taken when it would feed the model what `encode` feeds it."""
    import torch

    from retrieval.embeddings import _PieceBatcher

    real = local_embeddings.model
    tokenizer, _ = local_embeddings._piece_tokenizer

    class Shifted:
        """A model whose preprocessing adds a tensor the batcher does not build."""

        device = real.device

        def preprocess(self, texts: list[str]) -> dict[str, object]:
            features = dict(real.preprocess(texts))
            features["pixel_values"] = torch.zeros(1)
            return features

    assert _PieceBatcher.for_model(real, tokenizer, 256) is not None
    assert _PieceBatcher.for_model(Shifted(), tokenizer, 256) is None  # type: ignore[arg-type]
