"""Lambda entry point: app.handler.lambda_handler.

Embeds texts with the configured model and optionally clusters them with HDBSCAN. The request/response contract
is documented in app/request.py (input) and below (output):

  200 body: {"embeddings": [[384 floats] | "<base64 float32>", ...], "count": n, "dimension": 384,
             "model": MODEL_NAME, "encoding": "float" | "base64",
             + when clustering: "labels": [...], "n_clusters": k, "cluster_sizes": [...], "noise": m}
  400 body: {"error": "<field>: <what is wrong>", "field": "<field>"}
  413 body: {"error": "... over Lambda's synchronous response limit ...", "field": "texts"}
  500 body: {"error": "internal error ...", "request_id": "<id>"} (the stack trace goes to the log only)
Every response is {"statusCode", "headers", "body": "<json>"}, which Function URLs and API Gateway pass through.
"""
import time

_INIT_STARTED = time.perf_counter()

import os  # noqa: E402

# Never reach the Hugging Face hub at run time, even if the deployment forgot to say so; and keep any cache the
# libraries insist on under /tmp, the only writable path in Lambda.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HOME", "/tmp/huggingface")
# Progress bars are noise in CloudWatch (one line per redraw).
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

from typing import Any, Dict  # noqa: E402

from app import clustering, response  # noqa: E402
from app.log import logger  # noqa: E402
from app.request import BadRequest, parse_event  # noqa: E402
from app.runtime import ModelRuntime  # noqa: E402

# Global scope: loaded once per execution environment (and captured by SnapStart), reused by warm invocations.
runtime = ModelRuntime()
_loaded_at_init = runtime.try_load()
logger.info(
    "init done",
    extra={"init_ms": round((time.perf_counter() - _INIT_STARTED) * 1000), "model_loaded": _loaded_at_init},
)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: Dict[str, Any], context: Any) -> Dict[str, Any]:
    return handle(event, context, runtime)


def handle(event: Any, context: Any, rt: ModelRuntime) -> Dict[str, Any]:
    """The whole request, separated from the module's globals so tests can give it their own runtime."""
    request_id = getattr(context, "aws_request_id", None) or "unknown"
    started = time.perf_counter()
    try:
        req = parse_event(event, rt.settings)
    except BadRequest as e:
        logger.info("bad request", extra={"status": 400, "field": e.field, "reason": e.message})
        return response.error_response(400, str(e), field=e.field)
    except Exception:
        # Settings that cannot be parsed are a deployment mistake; the log says which variable.
        logger.exception("request failed before validation")
        return _internal_error(request_id)

    try:
        backend = rt.backend()
        vectors = backend.encode(req.texts)
        encoded_at = time.perf_counter()
        body: Dict[str, Any] = {
            "embeddings": response.encode_embeddings(vectors, req.encoding),
            "count": int(vectors.shape[0]),
            "dimension": int(vectors.shape[1]),
            "model": rt.settings.model_name,
            "encoding": req.encoding,
        }
        if req.cluster is not None:
            body.update(clustering.cluster(vectors, req.cluster).as_dict())
        result = response.limit_size(response.make_response(200, body), req.encoding)
    except Exception:
        logger.exception("request failed")
        return _internal_error(request_id)

    logger.info(
        "request done",
        extra={
            "status": result["statusCode"],
            "count": len(req.texts),
            "chars": sum(len(t) for t in req.texts),
            "encoding": req.encoding,
            "cluster": req.cluster is not None,
            "proxy": req.proxy,
            "encode_ms": round((encoded_at - started) * 1000, 1),
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            "response_bytes": len(result["body"]),
        },
    )
    return result


def _internal_error(request_id: str) -> Dict[str, Any]:
    return response.error_response(
        500, f"internal error; quote request id {request_id} when reporting it", request_id=request_id
    )
