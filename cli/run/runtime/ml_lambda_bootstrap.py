"""Starts awslambdaric the way the managed Python runtime does, with Lambda's module search path.

AWS documents the order (https://docs.aws.amazon.com/lambda/latest/dg/python-image.html, "Dependency search path"
and https://docs.aws.amazon.com/lambda/latest/dg/python-layers.html): the function code ($LAMBDA_TASK_ROOT,
/var/task) first; then the layers' /opt/python/lib/pythonX.Y/site-packages and /opt/python; then, for Python 3.11
and later, the runtime's /var/lang/lib/pythonX.Y/site-packages, which precedes /var/runtime; then the standard
library. PYTHONPATH is $LAMBDA_RUNTIME_DIR (configuration-envvars.html, "Defined runtime environment variables").

Test-only: with ML_LAMBDA_PROBE=1 the handler is wrapped by ml_lambda_probe (in this directory), which reports,
after each invocation, where every loaded module came from. Nothing else differs.
"""
import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
_ver = f"python{sys.version_info[0]}.{sys.version_info[1]}"
_task = os.environ.get("LAMBDA_TASK_ROOT", "/var/task")
_runtime = os.environ.get("LAMBDA_RUNTIME_DIR", "/var/runtime")
_head = [_task, f"/opt/python/lib/{_ver}/site-packages", "/opt/python", f"/var/lang/lib/{_ver}/site-packages", _runtime]
# The rest is the interpreter's own standard library (zip, lib, lib-dynload), in its order. The script's own
# directory (sys.path[0]) is /var/runtime, already placed.
sys.path[:] = _head + [p for p in sys.path if p not in _head and p not in ("", _here)]

handler = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] else os.environ.get("_HANDLER", "")
if os.environ.get("ML_LAMBDA_PROBE") == "1":
    os.environ["ML_LAMBDA_PROBE_TARGET"] = handler
    handler = "ml_lambda_probe.handler"

from awslambdaric.__main__ import main  # noqa: E402

main([sys.argv[0], handler])
