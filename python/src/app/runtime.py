"""The per-execution-environment state: settings and the loaded model backend.

Loaded in global scope (app/handler.py) so warm invocations and SnapStart-restored environments never reload.
A failed load is not fatal: it is logged, and the next invocation tries again (e.g. after a transient S3 error),
answering 500 with its request id while the model is unavailable.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable, Optional

from app.log import logger

from app import model_store
from app.backends import Backend, load_backend
from app.config import Settings



class ModelRuntime:
    def __init__(
        self,
        settings_factory: Callable[[], Settings] = Settings.from_env,
        s3_client=None,
        backend: Optional[Backend] = None,
    ) -> None:
        """`s3_client` defaults to boto3.client("s3") when first needed; `backend` may be one already loaded
        (runtimes with different limits can share one model)."""
        self._settings_factory = settings_factory
        self._s3_client = s3_client
        self._settings: Optional[Settings] = None
        self._backend: Optional[Backend] = backend

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = self._settings_factory()
        return self._settings

    @property
    def loaded(self) -> bool:
        return self._backend is not None

    def backend(self) -> Backend:
        """The loaded backend, loading it now if an earlier attempt failed or none was made. Raises on failure."""
        if self._backend is None:
            self._backend = self._load()
        return self._backend

    def try_load(self) -> bool:
        try:
            self.backend()
            return True
        except Exception:
            logger.exception("model load failed; the next invocation will retry")
            return False

    def _load(self) -> Backend:
        settings = self.settings
        started = time.perf_counter()
        if settings.model_dir:
            if os.environ.get("MODEL_BUCKET"):
                logger.warning("MODEL_DIR and MODEL_BUCKET are both set; using the baked-in MODEL_DIR")
            model_dir = model_store.local_model_dir(settings.model_dir)
            # Shipped with the function: baked into the image, or a layer of its own on the zip path (both /opt/...).
            source = "MODEL_DIR"
        else:
            assert settings.s3_model is not None  # Settings.from_env guarantees one source
            model_dir = model_store.fetch_model(settings.s3_model, settings.model_cache_dir, self._s3_client)
            source = "s3"
        fetched = time.perf_counter()
        backend = load_backend(settings.backend, Path(model_dir))
        loaded = time.perf_counter()
        # One short encode so lazy initialisation (thread pools, first-batch allocations) happens at init time,
        # not in the first caller's latency, and is captured by a SnapStart snapshot.
        backend.encode(["warm up"])
        warmed = time.perf_counter()
        logger.info(
            "model loaded",
            extra={
                "model": settings.model_name,
                "backend": settings.backend,
                "model_source": source,
                "model_path": str(model_dir),
                "fetch_ms": round((fetched - started) * 1000),
                "model_load_ms": round((loaded - fetched) * 1000),
                "warmup_ms": round((warmed - loaded) * 1000),
                "dimension": backend.dimension,
                "threads": backend.threads,
            },
        )
        return backend
