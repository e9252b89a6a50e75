"""sentence-transformers on PyTorch (CPU): the reference backend, as the model's authors run it."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from app.backends import Backend, BackendError

# Batches of 32 are sentence-transformers' default and a good fit for Lambda's 1-6 vCPUs.
BATCH_SIZE = 32


class TorchBackend(Backend):
    name = "torch"

    def __init__(self, model) -> None:
        self._model = model
        self._dimension = int(model.get_embedding_dimension())

    @classmethod
    def load(cls, model_dir: Path) -> "TorchBackend":
        # Loading by path must never reach the hub; and a progress bar per load is noise in CloudWatch.
        # Set before transformers / huggingface_hub are imported, which is when they read these.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        from sentence_transformers import SentenceTransformer

        if not (model_dir / "modules.json").is_file() and not (model_dir / "config.json").is_file():
            raise BackendError(
                f"{model_dir} does not look like a sentence-transformers model (no modules.json or config.json); "
                "the model directory's files must be at its root"
            )
        model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
        model.eval()
        return cls(model)

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def threads(self) -> int:  # type: ignore[override]
        import torch

        return torch.get_num_threads()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self._model.encode(
            list(texts),
            batch_size=BATCH_SIZE,
            convert_to_numpy=True,
            # all-MiniLM-L6-v2 ends in a Normalize module already; asking again costs nothing and keeps the
            # unit-norm promise for models that do not.
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)
