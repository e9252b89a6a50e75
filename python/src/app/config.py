"""Settings the function reads from its environment, parsed once at init.

| variable          | default               | meaning                                                                 |
|-------------------|-----------------------|-------------------------------------------------------------------------|
| MODEL_DIR         | (unset)               | the model shipped with the function: baked into the image, or the zip   |
|                   |                       | path's model layer (both /opt/ml/model). Wins over the S3 variables.    |
| MODEL_BUCKET      | (unset)               | zip path, model from S3: bucket holding the model archive (.tar, files  |
|                   |                       | at its root; a .tar.gz is read too)                                     |
| MODEL_KEY         | (unset)               | zip path: key of that archive                                           |
| MODEL_SHA256      | (unset)               | zip path: sha256 (hex) of the archive; a mismatch refuses to load       |
| MODEL_CACHE_DIR   | /tmp/ml-lambda-model  | zip path: where the archive is unpacked (one directory per sha256)      |
| MODEL_NAME        | all-MiniLM-L6-v2      | reported as `model` in every response                                   |
| MODEL_BACKEND     | torch                 | embedding backend (see app/backends)                                    |
| MAX_TEXTS         | 512                   | most texts per request (above: 400)                                     |
| MAX_TEXT_CHARS    | 10000                 | most characters per text (above: 400)                                   |
| MAX_CLUSTER_TEXTS | 3000                  | most texts in a request that asks for clustering (above: 400)           |

Why these limits (measured by bench/, figures in python/README.md): all-MiniLM-L6-v2 reads at most 256 word
pieces per text (roughly 1,000-1,500 characters of English), so 10,000 characters is generous while keeping
tokenization cost bounded. Embedding time grows with the texts' length; at the worst case, 256 word pieces each,
one vCPU (1,769 MB) embeds about 15 texts per second with any backend, so 512 texts take ~35 s: inside the 60 s
timeout the stacks use, with room for clustering and the response. Functions with more memory (vCPUs) or a
longer timeout can raise MAX_TEXTS in proportion. In JSON floats 512 embeddings are ~4.5 MB, under Lambda's 6 MB
response limit; larger batches must ask for `"encoding": "base64"` (the 413 says so).

MAX_CLUSTER_TEXTS bounds clustering's memory when MAX_TEXTS is raised: exact HDBSCAN holds an n x n float64
distance matrix (8 n^2 bytes: 2 MB at 512 texts, 72 MB at 3,000, 800 MB at 10,000) and its time grows with n^2
(~0.3 s at 3,000 on one vCPU). 3,000 is about the most embeddings a 6 MB response carries even in base64, so a
larger clustering request could not be answered anyway.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Mapping, Optional

DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"
DEFAULT_BACKEND = "torch"
DEFAULT_MODEL_CACHE_DIR = "/tmp/ml-lambda-model"
DEFAULT_MAX_TEXTS = 512
DEFAULT_MAX_TEXT_CHARS = 10_000
DEFAULT_MAX_CLUSTER_TEXTS = 3000

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


class ConfigError(Exception):
    """The function's environment is wrong: a deployment mistake, not a caller's."""


@dataclass(frozen=True)
class S3Model:
    bucket: str
    key: str
    sha256: str


@dataclass(frozen=True)
class Settings:
    model_name: str = DEFAULT_MODEL_NAME
    backend: str = DEFAULT_BACKEND
    model_dir: Optional[str] = None
    s3_model: Optional[S3Model] = None
    model_cache_dir: str = DEFAULT_MODEL_CACHE_DIR
    max_texts: int = DEFAULT_MAX_TEXTS
    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS
    max_cluster_texts: int = DEFAULT_MAX_CLUSTER_TEXTS

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None) -> "Settings":
        env = os.environ if env is None else env
        model_dir = env.get("MODEL_DIR") or None
        s3_model = None
        if not model_dir:
            s3_model = _s3_model(env)
            if s3_model is None:
                raise ConfigError(
                    "no model configured: set MODEL_DIR (the model shipped with the function: image, or the zip path's "
                    "model layer) or MODEL_BUCKET, MODEL_KEY and MODEL_SHA256 (the model fetched from S3)"
                )
        return cls(
            model_name=env.get("MODEL_NAME") or DEFAULT_MODEL_NAME,
            backend=(env.get("MODEL_BACKEND") or DEFAULT_BACKEND).strip().lower(),
            model_dir=model_dir,
            s3_model=s3_model,
            model_cache_dir=env.get("MODEL_CACHE_DIR") or DEFAULT_MODEL_CACHE_DIR,
            max_texts=_positive_int(env, "MAX_TEXTS", DEFAULT_MAX_TEXTS),
            max_text_chars=_positive_int(env, "MAX_TEXT_CHARS", DEFAULT_MAX_TEXT_CHARS),
            max_cluster_texts=_positive_int(env, "MAX_CLUSTER_TEXTS", DEFAULT_MAX_CLUSTER_TEXTS),
        )


def _s3_model(env: Mapping[str, str]) -> Optional[S3Model]:
    names = ("MODEL_BUCKET", "MODEL_KEY", "MODEL_SHA256")
    values = {n: (env.get(n) or "").strip() for n in names}
    if not any(values.values()):
        return None
    missing = [n for n in names if not values[n]]
    if missing:
        raise ConfigError(f"zip path needs MODEL_BUCKET, MODEL_KEY and MODEL_SHA256; missing: {', '.join(missing)}")
    sha = values["MODEL_SHA256"].lower()
    if not _SHA256_HEX.match(sha):
        raise ConfigError(f"MODEL_SHA256 must be 64 hexadecimal characters, got {values['MODEL_SHA256']!r}")
    return S3Model(bucket=values["MODEL_BUCKET"], key=values["MODEL_KEY"], sha256=sha)


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(f"{name} must be a positive integer, got {raw!r}") from None
    if value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {raw!r}")
    return value
