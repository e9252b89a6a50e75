"""Settings from the environment: documented defaults, and deployment mistakes named precisely."""
from __future__ import annotations

import pytest

from app import backends
from app.backends import BackendError
from app.config import ConfigError, Settings

SHA = "a" * 64


def test_defaults_are_the_documented_ones():
    s = Settings.from_env({"MODEL_DIR": "/opt/ml/model"})
    assert (s.model_name, s.backend, s.max_texts, s.max_text_chars) == ("all-MiniLM-L6-v2", "torch", 512, 10_000)
    assert s.max_cluster_texts == 3000
    assert s.model_dir == "/opt/ml/model" and s.s3_model is None
    assert s.model_cache_dir == "/tmp/ml-lambda-model"


def test_zip_path_settings():
    s = Settings.from_env({"MODEL_BUCKET": "b", "MODEL_KEY": "k.tar.gz", "MODEL_SHA256": SHA.upper(), "MAX_TEXTS": "5",
                           "MODEL_NAME": "mini", "MODEL_BACKEND": " Torch "})
    assert s.s3_model.bucket == "b" and s.s3_model.key == "k.tar.gz" and s.s3_model.sha256 == SHA
    assert s.max_texts == 5 and s.model_name == "mini" and s.backend == "torch"


def test_model_dir_wins_over_s3():
    s = Settings.from_env({"MODEL_DIR": "/opt/ml/model", "MODEL_BUCKET": "b"})
    assert s.model_dir == "/opt/ml/model" and s.s3_model is None


@pytest.mark.parametrize(
    "env,match",
    [
        ({}, "set MODEL_DIR"),
        ({"MODEL_BUCKET": "b"}, "missing: MODEL_KEY, MODEL_SHA256"),
        ({"MODEL_BUCKET": "b", "MODEL_KEY": "k", "MODEL_SHA256": "abc"}, "64 hexadecimal"),
        ({"MODEL_DIR": "/m", "MAX_TEXTS": "many"}, "MAX_TEXTS must be a positive integer"),
        ({"MODEL_DIR": "/m", "MAX_TEXT_CHARS": "0"}, "MAX_TEXT_CHARS must be a positive integer"),
        ({"MODEL_DIR": "/m", "MAX_CLUSTER_TEXTS": "-3"}, "MAX_CLUSTER_TEXTS must be a positive integer"),
    ],
)
def test_config_mistakes_are_named(env, match):
    with pytest.raises(ConfigError, match=match):
        Settings.from_env(env)


def test_unknown_backend_lists_the_known_ones():
    with pytest.raises(BackendError, match="choose one of onnx, onnx-int8, torch"):
        backends.backend_class("tensorflow")


def test_backend_interface_is_what_the_torch_backend_implements():
    cls = backends.backend_class("torch")
    assert issubclass(cls, backends.Backend) and cls.name == "torch"
