"""Embedding backends: one small class per way of running the model, behind one interface.

A backend is chosen by MODEL_BACKEND and imported only when chosen, so a profile that ships without torch (the
ONNX profile) never imports it. Adding one = a module with a Backend subclass + one line in _REGISTRY.
"""
from __future__ import annotations

import abc
import importlib
from pathlib import Path
from typing import ClassVar, Dict, List, Optional, Sequence, Tuple

import numpy as np


class BackendError(Exception):
    """The backend cannot be chosen or cannot load the model: a deployment mistake."""


class Backend(abc.ABC):
    #: the MODEL_BACKEND value that selects this backend
    name: ClassVar[str]
    #: intra-op threads it computes with, when it knows (logged with "model loaded": the vCPU share at work)
    threads: Optional[int] = None

    @classmethod
    @abc.abstractmethod
    def load(cls, model_dir: Path) -> "Backend":
        """Load the model from a local directory, offline. Called once per execution environment."""

    @property
    @abc.abstractmethod
    def dimension(self) -> int:
        """Length of each embedding."""

    @abc.abstractmethod
    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings as a float32 array of shape (len(texts), dimension), each row L2-normalized."""


# name -> (module, class). Modules are imported lazily by load_backend().
_REGISTRY: Dict[str, Tuple[str, str]] = {
    "torch": ("app.backends.torch_backend", "TorchBackend"),
    "onnx": ("app.backends.onnx_backend", "OnnxBackend"),
    "onnx-int8": ("app.backends.onnx_backend", "OnnxInt8Backend"),
}


def names() -> List[str]:
    return sorted(_REGISTRY)


def backend_class(name: str) -> type:
    try:
        module_name, class_name = _REGISTRY[name]
    except KeyError:
        raise BackendError(f"MODEL_BACKEND={name!r} is not a known backend; choose one of {', '.join(names())}") from None
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        # Typically the deployed requirements profile lacks the backend's libraries (e.g. torch in a zip layer).
        raise BackendError(
            f"MODEL_BACKEND={name!r} needs {e.name or 'a library'} which is not installed in this function; "
            f"deploy the requirements profile that matches the backend"
        ) from e
    return getattr(module, class_name)


def load_backend(name: str, model_dir: Path) -> Backend:
    return backend_class(name).load(Path(model_dir))
