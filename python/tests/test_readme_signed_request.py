"""The README's signed-request example, run as written against a local HTTP server standing in for the function URL.

The server checks what AWS would check first: a SigV4 signature for service "lambda" in the caller's region, over
the body that was sent. It recomputes the signature with botocore from the received request and compares, so a
snippet that signed one body and sent another, signed for the wrong service or region, or dropped a signed header
fails here. (The URL's own IAM authorization, which needs AWS, is not exercised.)
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import REPO

ACCESS_KEY, SECRET_KEY, REGION = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "eu-west-1"


def readme_snippet() -> str:
    text = (REPO / "README.md").read_text()
    m = re.search(r"<!-- signed-request:start -->\n```python\n(.*?)```\n<!-- signed-request:end -->", text, re.S)
    assert m, "README lacks the signed-request example between its markers"
    return m.group(1)


class FunctionUrlStandIn(BaseHTTPRequestHandler):
    seen: list[dict] = []

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        headers = {k.lower(): v for k, v in self.headers.items()}
        verdict = verify(self.command, f"http://{self.headers['Host']}{self.path}", headers, body)
        FunctionUrlStandIn.seen.append({"headers": headers, "body": body, "verdict": verdict})
        if verdict != "ok":
            self.send_response(403)
            payload = json.dumps({"message": verdict}).encode()
        else:
            texts = json.loads(body)["texts"]
            self.send_response(200)
            payload = json.dumps({"embeddings": [[0.0] * 384 for _ in texts]}).encode()
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


def verify(method: str, url: str, headers: dict, body: bytes) -> str:
    auth = headers.get("authorization", "")
    m = re.fullmatch(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})", auth)
    if not m:
        return f"no SigV4 authorization header: {auth!r}"
    key, day, region, service, signed_headers, signature = m.groups()
    if (key, region, service) != (ACCESS_KEY, REGION, "lambda"):
        return f"signed as {key}/{region}/{service}, expected {ACCESS_KEY}/{REGION}/lambda"
    # Re-sign what arrived, with the signer's own timestamp and the same signed headers, and compare.
    replay = AWSRequest(method=method, url=url, data=body,
                        headers={h: headers[h] for h in signed_headers.split(";") if h not in ("x-amz-date",)})
    replay.context["timestamp"] = headers["x-amz-date"]
    signer = SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "lambda", REGION)
    replay.headers["X-Amz-Date"] = headers["x-amz-date"]
    expected = signer.signature(signer.string_to_sign(replay, signer.canonical_request(replay)), replay)
    return "ok" if expected == signature else "signature does not match the request received"


def run_snippet(tmp_path, url: str, secret: str = SECRET_KEY) -> subprocess.CompletedProcess:
    script = tmp_path / "sign.py"
    script.write_text(readme_snippet())
    env = {
        "PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
        "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": secret, "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
    }
    return subprocess.run([sys.executable, str(script), url], capture_output=True, text=True, timeout=60, env=env)


def test_readme_example_signs_for_lambda_and_sends_what_it_signed(tmp_path):
    server = HTTPServer(("127.0.0.1", 0), FunctionUrlStandIn)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        FunctionUrlStandIn.seen.clear()
        url = f"http://127.0.0.1:{server.server_port}/"
        r = run_snippet(tmp_path, url)
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "2 embeddings"
        [seen] = FunctionUrlStandIn.seen
        assert seen["verdict"] == "ok"
        assert json.loads(seen["body"]) == {"texts": ["hello world", "bonjour le monde"]}
        assert seen["headers"]["content-type"] == "application/json"
        assert datetime.strptime(seen["headers"]["x-amz-date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc).year >= 2026

        # The check can fail: a caller holding the wrong secret is refused (HTTP 403 -> the snippet raises).
        FunctionUrlStandIn.seen.clear()
        bad = run_snippet(tmp_path, url, secret="not-the-secret")
        assert bad.returncode != 0 and "403" in bad.stderr, bad.stderr
        assert FunctionUrlStandIn.seen[0]["verdict"] == "signature does not match the request received"
    finally:
        server.shutdown()
        server.server_close()
