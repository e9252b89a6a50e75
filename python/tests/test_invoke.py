"""`ml-lambda invoke` end to end: AWS's runtime interface emulator (aws-lambda-rie) runs awslambdaric with our
handler and the real model, the way Lambda runs it; the CLI posts the event and prints the response."""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO

TS_NODE = REPO / "node_modules" / ".bin" / "ts-node"


def ml_lambda(*args: str, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    assert TS_NODE.exists(), f"{TS_NODE} missing: run npm ci"
    return subprocess.run(
        [str(TS_NODE), "--transpile-only", "cli/main.ts", "invoke", *args],
        cwd=REPO, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="module")
def emulator_ready():
    rie = REPO / ".cache" / "bin" / "aws-lambda-rie"
    assert rie.exists() or os.environ.get("ML_LAMBDA_RIE"), "aws-lambda-rie missing: run bash scripts/setup-python.sh"


def write_event(tmp_path: Path, event) -> str:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    return str(path)


def test_json_output_is_exactly_the_response_and_report_goes_to_stderr(emulator_ready, tmp_path, model_dir):
    texts = ["The emulator runs the handler.", "Lambda runs it the same way.", "Bananas are yellow."]
    event = write_event(tmp_path, {"texts": texts, "cluster": {"min_cluster_size": 2}})
    r = ml_lambda("--event", event, "--json", "--model-dir", str(model_dir), "--repeat", "2")
    assert r.returncode == 0, r.stderr[-4000:]
    response = json.loads(r.stdout)  # the whole of stdout is one JSON document
    assert set(response) == {"statusCode", "headers", "body"}
    assert response["statusCode"] == 200
    body = json.loads(response["body"])
    vectors = np.array(body["embeddings"])
    assert vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert float(vectors[0] @ vectors[1]) > float(vectors[0] @ vectors[2])
    assert len(body["labels"]) == 3
    reports = re.findall(r"REPORT RequestId: \S+.*", r.stderr)
    assert len(reports) == 2, r.stderr
    assert "Duration:" in reports[0] and "Max Memory Used:" in reports[0]
    measured = re.search(r"\[1/2 cold\] measured by ml-lambda: init (\d+) ms.*max memory (\d+) MB", r.stderr)
    assert measured, r.stderr
    init_ms, peak_mb = int(measured.group(1)), int(measured.group(2))
    # Importing torch + sentence-transformers and loading the model takes seconds; the runtime holds hundreds of MB.
    assert 500 < init_ms < 120_000 and 200 < peak_mb < 8000, (init_ms, peak_mb)
    warm = re.search(r"\[2/2 warm\] REPORT RequestId: \S+\s+Duration: ([0-9.]+) ms", r.stderr)
    assert warm and float(warm.group(1)) < init_ms, r.stderr
    print(f"\nemulator: init {init_ms} ms, warm Duration {warm.group(1)} ms, peak RSS {peak_mb} MB")


def test_human_output_summarizes_a_proxy_event(emulator_ready, tmp_path, model_dir):
    import base64

    event = write_event(tmp_path, {
        "version": "2.0", "isBase64Encoded": True,
        "body": base64.b64encode(json.dumps({"text": "via a Function URL", "encoding": "base64"}).encode()).decode(),
    })
    r = ml_lambda("--event", event, "--model-dir", str(model_dir))
    assert r.returncode == 0, r.stderr[-4000:]
    assert "Response (emulator HTTP 200):" in r.stdout
    assert "[1 embedding of 384 (base64); --json prints them]" in r.stdout
    assert "REPORT RequestId:" in r.stderr
    # The function's structured logs are shown (prefixed) in human mode.
    assert '"message":"request done"' in r.stderr


def test_function_that_fails_at_init_is_reported_with_exit_1(emulator_ready, tmp_path):
    handler_dir = tmp_path / "src"
    (handler_dir / "app").mkdir(parents=True)
    (handler_dir / "app" / "__init__.py").write_text("")
    (handler_dir / "app" / "handler.py").write_text("raise RuntimeError('broken at import')\n")
    event = write_event(tmp_path, {"texts": ["x"]})
    r = ml_lambda("--event", event, "--json", "--handler-dir", str(handler_dir), "--model-dir", str(tmp_path))
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "the function failed" in r.stderr
    assert "broken at import" in r.stdout + r.stderr


def test_missing_model_is_a_usage_error_naming_the_fix(emulator_ready, tmp_path):
    event = write_event(tmp_path, {"texts": ["x"]})
    r = ml_lambda("--event", event, env={"MODEL_DIR": "", "MODEL_BUCKET": ""})
    assert r.returncode == 2
    assert "no model given: pass --model-dir DIR" in r.stderr


def test_the_onnx_backend_under_the_emulator(emulator_ready, tmp_path, onnx_model):
    """MODEL_BACKEND=onnx with the model the build step exported: the function as Lambda would run it on the zip
    path (model from a local directory here instead of S3). Human output, to see the function's own logs."""
    texts = ["Embeddings without torch.", "onnxruntime runs the exported graph.", "Bananas are yellow."]
    event = write_event(tmp_path, {"texts": texts, "cluster": {"min_cluster_size": 2}})
    r = ml_lambda("--event", event, "--model-dir", onnx_model["stagedDir"], "--env", "MODEL_BACKEND=onnx", "--repeat", "2")
    assert r.returncode == 0, r.stderr[-4000:]
    assert "[3 embeddings of 384 (float); --json prints them]" in r.stdout
    loaded = [json.loads(line.split("| ", 1)[1]) for line in r.stderr.splitlines() if '"message":"model loaded"' in line]
    assert len(loaded) == 1 and loaded[0]["backend"] == "onnx" and loaded[0]["dimension"] == 384, loaded
    assert isinstance(loaded[0]["threads"], int) and loaded[0]["threads"] >= 1, loaded
    measured = re.search(r"\[1/2 cold\] measured by ml-lambda: init (\d+) ms.*max memory (\d+) MB", r.stderr)
    assert measured, r.stderr
    print(f"\nemulator, onnx backend: init {measured.group(1)} ms, peak RSS {measured.group(2)} MB")


def function_url_event(body: str, *, base64_encoded: bool = False, method: str = "POST") -> dict:
    """A Lambda function URL request (payload format 2.0), shaped as AWS documents it for an AWS_IAM URL on an
    alias: https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html#urls-payloads"""
    url_id = "abcdefghijklmnopqrstuvwxyz012345"
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": {
            "content-type": "application/json",
            "host": f"{url_id}.lambda-url.us-east-1.on.aws",
            "x-amz-date": "20261130T120000Z",
            "x-forwarded-proto": "https",
            "x-forwarded-for": "203.0.113.7",
            "user-agent": "python-urllib/3.12",
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": url_id,
            "authorizer": {"iam": {
                "accessKey": "AKIAIOSFODNN7EXAMPLE", "accountId": "123456789012", "callerId": "AIDAEXAMPLE",
                "cognitoIdentity": None, "principalOrgId": None,
                "userArn": "arn:aws:iam::123456789012:user/caller", "userId": "AIDAEXAMPLE",
            }},
            "domainName": f"{url_id}.lambda-url.us-east-1.on.aws",
            "domainPrefix": url_id,
            "http": {"method": method, "path": "/", "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7", "userAgent": "python-urllib/3.12"},
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "routeKey": "$default",
            "stage": "$default",
            "time": "30/Nov/2026:12:00:00 +0000",
            "timeEpoch": 1795953600000,
        },
        "body": body,
        "isBase64Encoded": base64_encoded,
    }


def test_a_function_url_payload_2_0_event_end_to_end(emulator_ready, tmp_path, onnx_model):
    """What a request to the `url` output delivers (payload 2.0, JSON body as a string), through AWS's runtime
    interface emulator with the onnx backend and the exported model: a proxy response the URL turns into HTTP 200
    with a JSON body. (When `ml-lambda invoke --stack` lands, this event runs against the stack's own build.)"""
    texts = ["An HTTPS endpoint for embeddings.", "Function URLs send payload 2.0 events.", "Bananas are yellow."]
    event = write_event(tmp_path, function_url_event(json.dumps({"texts": texts})))
    r = ml_lambda("--event", event, "--json", "--model-dir", onnx_model["stagedDir"], "--env", "MODEL_BACKEND=onnx")
    assert r.returncode == 0, r.stderr[-4000:]
    response = json.loads(r.stdout)
    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"] == "application/json"
    body = json.loads(response["body"])  # a string: the URL sends it as the HTTP body
    vectors = np.array(body["embeddings"])
    assert vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    # The texts were only inside the string body: read at the top level, this event would have been a 400.
    assert float(vectors[0] @ vectors[1]) > float(vectors[0] @ vectors[2])


def test_a_function_url_event_with_a_bad_body_is_a_400_naming_the_field(emulator_ready, tmp_path, onnx_model):
    event = write_event(tmp_path, function_url_event(json.dumps({"texts": "not a list"})))
    r = ml_lambda("--event", event, "--json", "--model-dir", onnx_model["stagedDir"], "--env", "MODEL_BACKEND=onnx")
    assert r.returncode == 0, r.stderr[-4000:]  # the function answered; the answer is the caller's 400
    response = json.loads(r.stdout)
    assert response["statusCode"] == 400
    body = json.loads(response["body"])
    assert body["field"] == "texts" and body["error"].startswith("texts:"), body
