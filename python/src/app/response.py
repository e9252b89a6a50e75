"""Response building: the proxy-compatible {"statusCode", "headers", "body"} shape, embedding encodings, and the
check that keeps a response inside Lambda's synchronous payload limit."""
from __future__ import annotations

import base64
import json
from typing import Any, Dict, List, Optional

import numpy as np

# Lambda's synchronous invocation response limit, 6 MB = 6,291,456 bytes
# (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html). Above it the invocation itself fails
# with a runtime error the caller cannot act on; we answer 413 instead.
MAX_RESPONSE_BYTES = 6 * 1024 * 1024

_HEADERS = {"Content-Type": "application/json"}


def make_response(status: int, body: Dict[str, Any]) -> Dict[str, Any]:
    # The body is a JSON string (not an object) so Function URLs and API Gateway proxies pass it through as the
    # HTTP body, and direct callers get the seed guide's shape.
    return {"statusCode": status, "headers": dict(_HEADERS), "body": json.dumps(body, separators=(",", ":"))}


def error_response(status: int, message: str, field: Optional[str] = None, request_id: Optional[str] = None) -> Dict[str, Any]:
    body: Dict[str, Any] = {"error": message}
    if field is not None:
        body["field"] = field
    if request_id is not None:
        body["request_id"] = request_id
    return make_response(status, body)


def encode_embeddings(vectors: np.ndarray, encoding: str) -> List[Any]:
    if encoding == "base64":
        # Little-endian float32, explicitly, so a big-endian reader gets the same numbers:
        # numpy.frombuffer(base64.b64decode(s), dtype="<f4").
        data = np.ascontiguousarray(vectors, dtype="<f4")
        return [base64.b64encode(row.tobytes()).decode("ascii") for row in data]
    return np.asarray(vectors, dtype=np.float32).tolist()


def response_bytes(response: Dict[str, Any]) -> int:
    # The runtime serializes the returned object as JSON; ensure_ascii=True is the longest form any serializer
    # would produce for it, so the check errs on the safe side.
    return len(json.dumps(response).encode("utf-8"))


def limit_size(response: Dict[str, Any], encoding: str) -> Dict[str, Any]:
    size = response_bytes(response)
    if size <= MAX_RESPONSE_BYTES:
        return response
    hint = (
        'send fewer texts per request, or ask for "encoding": "base64" (about 4x smaller)'
        if encoding != "base64"
        else "send fewer texts per request"
    )
    return error_response(
        413,
        f"response would be {size:,} bytes, over Lambda's synchronous response limit of {MAX_RESPONSE_BYTES:,} "
        f"bytes (6 MB): {hint}",
        field="texts",
    )
