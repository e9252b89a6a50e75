"""Docker RUN step 4 (and the test's run-time check): import the handler and embed two texts, offline.

    python3 smoke.py TASK_ROOT

Runs the handler the way the runtime would (import app.handler, call lambda_handler) from TASK_ROOT, with
whatever MODEL_DIR / HF_HUB_OFFLINE the environment sets. A build whose image cannot load its model fails here,
not on its first invocation. Prints one JSON line with the timings.

Refuses to run as root: Lambda never does, and as root a library could write caches or bytecode next to the
code (into the image's layer) that Lambda's read-only file system would not allow. As any other user only the
world-writable temporary directories are writable; every library cache is pointed at a scratch directory there,
which is removed afterwards, so the step leaves nothing behind.
"""
import json
import os
import shutil
import sys
import tempfile
import time


class _Context:
    aws_request_id = "smoke-test"
    function_name = "smoke-test"
    function_version = "$LATEST"
    memory_limit_in_mb = 3008
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:smoke-test"
    log_group_name = "/aws/lambda/smoke-test"
    log_stream_name = "smoke"

    @staticmethod
    def get_remaining_time_in_millis():
        return 60_000


def prepared_backend(model_dir):
    """"onnx" / "onnx-int8" for a model prepared for those backends (ml_lambda_onnx.json), else "torch"."""
    try:
        with open(os.path.join(model_dir, "ml_lambda_onnx.json")) as f:
            return json.load(f).get("backend") or "torch"
    except (OSError, ValueError):
        return "torch"


def main(argv):
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        print("[smoke] refusing to run as root: Lambda runs the function as an unprivileged user; the Dockerfile "
              "sets USER before this step", file=sys.stderr)
        return 1
    sys.path.insert(0, argv[0])
    # Anything a library caches while loading must not end up in the image layer.
    scratch = tempfile.mkdtemp(prefix="ml-lambda-smoke-")
    os.environ["HF_HOME"] = scratch
    os.environ["TMPDIR"] = scratch
    tempfile.tempdir = scratch
    try:
        # The function gets MODEL_BACKEND from its configuration at run time; the build has no such setting, so
        # take the backend the baked model was prepared for (an ONNX export says so in its manifest).
        if not os.environ.get("MODEL_BACKEND"):
            os.environ["MODEL_BACKEND"] = prepared_backend(os.environ.get("MODEL_DIR", ""))
        started = time.perf_counter()
        import app.handler as handler

        imported = time.perf_counter()
        loaded_at_init = handler.runtime.loaded
        result = handler.lambda_handler({"texts": ["the image loads its model", "offline"]}, _Context())
        invoked = time.perf_counter()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    body = json.loads(result.get("body") or "{}")
    ok = loaded_at_init and result.get("statusCode") == 200 and body.get("count") == 2 and body.get("dimension", 0) > 0
    print(json.dumps({
        "smoke": "ok" if ok else "failed",
        "status": result.get("statusCode"),
        "dimension": body.get("dimension"),
        "error": body.get("error"),
        "init_ms": round((imported - started) * 1000),
        "invoke_ms": round((invoked - imported) * 1000),
        "model_loaded_at_init": loaded_at_init,
    }), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
