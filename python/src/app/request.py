"""Turns an invocation event into a validated request, or a BadRequest that names the offending field.

Accepted events (the seed guide's shape, so its clients keep working):
  {"texts": ["...", ...]}  or  {"text": "..."}
  optional "encoding": "float" (default) | "base64" (little-endian float32, base64 per embedding)
  optional "cluster": true | {"min_cluster_size": 5, "min_samples": null, "cluster_selection_epsilon": 0.0,
                              "cluster_selection_method": "eom" | "leaf", "allow_single_cluster": false}
Function URL and API Gateway proxy events carry the same object as a JSON string in "body", base64-encoded
when "isBase64Encoded" is true.
"""
from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass
from typing import Any, List, Optional

from app.clustering import ClusterParams
from app.config import Settings

ENCODINGS = ("float", "base64")
FIELDS = ("texts", "text", "encoding", "cluster")
CLUSTER_FIELDS = (
    "min_cluster_size",
    "min_samples",
    "cluster_selection_epsilon",
    "cluster_selection_method",
    "allow_single_cluster",
)
CLUSTER_METHODS = ("eom", "leaf")


class BadRequest(Exception):
    """The caller's mistake: becomes a 400 whose error names `field`."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Request:
    texts: List[str]
    encoding: str = "float"
    cluster: Optional[ClusterParams] = None
    proxy: bool = False


def json_type(value: Any) -> str:
    """The JSON name of a decoded value's type, for messages a non-Python caller understands."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def is_proxy_event(event: dict) -> bool:
    # A direct invocation carries texts/text at the top level; anything with a "body" instead came through a
    # Function URL, API Gateway or an ALB.
    return "body" in event and "texts" not in event and "text" not in event


def parse_event(event: Any, settings: Settings) -> Request:
    if not isinstance(event, dict):
        raise BadRequest("event", f"must be a JSON object, got {json_type(event)}")
    proxy = is_proxy_event(event)
    payload = _proxy_payload(event) if proxy else event

    unknown = sorted(_key(k) for k in payload if k not in FIELDS)
    if unknown:
        raise BadRequest(unknown[0], f"unknown field; expected some of {', '.join(FIELDS)}")

    texts = _texts(payload, settings)
    encoding = _encoding(payload)
    cluster = _cluster(payload)
    if cluster is not None and len(texts) > settings.max_cluster_texts:
        raise BadRequest(
            "texts",
            f"too many texts to cluster: {len(texts)} > MAX_CLUSTER_TEXTS={settings.max_cluster_texts}; "
            "cluster fewer texts per request, or embed them in batches and cluster the embeddings yourself",
        )
    return Request(texts=texts, encoding=encoding, cluster=cluster, proxy=proxy)


def _proxy_payload(event: dict) -> dict:
    body = event.get("body")
    if body is None:
        raise BadRequest("body", 'missing: POST a JSON object such as {"texts": ["..."]}')
    if isinstance(body, dict):
        # Some test tools hand over an already-decoded body; accept it rather than be pedantic.
        return body
    if not isinstance(body, str):
        raise BadRequest("body", f"must be a JSON string, got {json_type(body)}")
    if event.get("isBase64Encoded") is True:
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest("body", "isBase64Encoded is true but the body is not valid base64") from None
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("body", "decoded body is not UTF-8 text") from None
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, RecursionError) as e:
        detail = e.msg if isinstance(e, json.JSONDecodeError) else "nested too deeply"
        raise BadRequest("body", f"not valid JSON ({detail})") from None
    if not isinstance(payload, dict):
        raise BadRequest("body", f"must hold a JSON object, got {json_type(payload)}")
    return payload


def _texts(payload: dict, settings: Settings) -> List[str]:
    has_texts, has_text = "texts" in payload, "text" in payload
    if has_texts and has_text:
        raise BadRequest("text", "send either text or texts, not both")
    if not has_texts and not has_text:
        raise BadRequest("texts", 'missing: send {"texts": ["..."]} or {"text": "..."}')
    if has_text:
        return [_one_text(payload["text"], "text", settings)]

    texts = payload["texts"]
    if not isinstance(texts, list):
        raise BadRequest("texts", f"must be an array of strings, got {json_type(texts)}")
    if not texts:
        raise BadRequest("texts", "must not be empty")
    if len(texts) > settings.max_texts:
        raise BadRequest(
            "texts",
            f"too many texts: {len(texts)} > MAX_TEXTS={settings.max_texts}; split the request into batches",
        )
    return [_one_text(t, f"texts[{i}]", settings) for i, t in enumerate(texts)]


def _one_text(value: Any, field: str, settings: Settings) -> str:
    if not isinstance(value, str):
        raise BadRequest(field, f"must be a string, got {json_type(value)}")
    if not value.strip():
        raise BadRequest(field, "must not be empty or only whitespace")
    if len(value) > settings.max_text_chars:
        raise BadRequest(
            field, f"too long: {len(value)} characters > MAX_TEXT_CHARS={settings.max_text_chars}"
        )
    try:
        # JSON may carry lone surrogates ("\ud800"); the Rust tokenizer needs valid UTF-8 and would fail as a 500.
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest(field, "contains invalid Unicode (an unpaired surrogate)") from None
    return value


def _encoding(payload: dict) -> str:
    encoding = payload.get("encoding", "float")
    if encoding not in ENCODINGS:
        shown = encoding if isinstance(encoding, str) else json_type(encoding)
        raise BadRequest("encoding", f"must be one of {', '.join(ENCODINGS)}, got {shown!r}")
    return encoding


def _cluster(payload: dict) -> Optional[ClusterParams]:
    spec = payload.get("cluster")
    if spec is None or spec is False:
        return None
    if spec is True:
        return ClusterParams()
    if not isinstance(spec, dict):
        raise BadRequest("cluster", f'must be true or an object such as {{"min_cluster_size": 5}}, got {json_type(spec)}')
    unknown = sorted(_key(k) for k in spec if k not in CLUSTER_FIELDS)
    if unknown:
        raise BadRequest(f"cluster.{unknown[0]}", f"unknown parameter; expected some of {', '.join(CLUSTER_FIELDS)}")

    defaults = ClusterParams()
    min_cluster_size = _int(spec, "min_cluster_size", defaults.min_cluster_size, minimum=2)
    min_samples = spec.get("min_samples")
    if min_samples is not None:
        min_samples = _int(spec, "min_samples", None, minimum=1)
    epsilon = spec.get("cluster_selection_epsilon", defaults.cluster_selection_epsilon)
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not math.isfinite(epsilon) or epsilon < 0:
        raise BadRequest("cluster.cluster_selection_epsilon", f"must be a finite number >= 0, got {_show(epsilon)}")
    method = spec.get("cluster_selection_method", defaults.cluster_selection_method)
    if method not in CLUSTER_METHODS:
        raise BadRequest("cluster.cluster_selection_method", f"must be one of {', '.join(CLUSTER_METHODS)}, got {_show(method)}")
    single = spec.get("allow_single_cluster", defaults.allow_single_cluster)
    if not isinstance(single, bool):
        raise BadRequest("cluster.allow_single_cluster", f"must be true or false, got {_show(single)}")
    return ClusterParams(
        min_cluster_size=min_cluster_size,
        min_samples=min_samples,
        cluster_selection_epsilon=float(epsilon),
        cluster_selection_method=method,
        allow_single_cluster=single,
    )


def _int(spec: dict, name: str, default: Optional[int], minimum: int) -> Optional[int]:
    value = spec.get(name, default)
    # bool is an int subclass in Python; JSON true is not a count.
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise BadRequest(f"cluster.{name}", f"must be an integer >= {minimum}, got {_show(value)}")
    return value


def _key(key: Any) -> str:
    # An empty key would make an empty field name; quote it so the error still points somewhere.
    return str(key) if key != "" else '""'


def _show(value: Any) -> str:
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return repr(value)
    return json_type(value)
