"""Lambda's Python runtime bootstrap.py, as /var/runtime/bootstrap runs it: the module search path Lambda
documents, then the runtime interface client (awslambdaric, beside this file in /var/runtime).

The search path (https://docs.aws.amazon.com/lambda/latest/dg/python-image.html, "Dependency search path", and
https://docs.aws.amazon.com/lambda/latest/dg/python-layers.html): the function code ($LAMBDA_TASK_ROOT, /var/task)
first, then the layers' /opt/python/lib/pythonX.Y/site-packages and /opt/python, then, for Python 3.11 and later,
/var/lang/lib/pythonX.Y/site-packages (the runtime-included libraries: boto3 and its dependencies), which comes
before /var/runtime; then the interpreter's own path. A function that sets PYTHONPATH itself gets its own path
instead (Python put it first already); otherwise PYTHONPATH is set to $LAMBDA_RUNTIME_DIR for child processes, its
documented value (configuration-envvars.html, "Defined runtime environment variables"). .pth files in the task
root and the layer directories are honoured.

Test-only: with ML_LAMBDA_PROBE=1 the handler is wrapped by ml_lambda_probe (beside this file), which reports,
after each invocation, where every loaded module came from. Nothing else differs.
"""
import os
import site
import sys

import awslambdaric.__main__ as ric

VERSION = "%d.%d" % sys.version_info[:2]
OPT_SITE = "/opt/python/lib/python%s/site-packages" % VERSION
OPT = "/opt/python"
LANG_SITE = "/var/lang/lib/python%s/site-packages" % VERSION


def main():
    task_root = os.environ["LAMBDA_TASK_ROOT"]
    own_pythonpath = "PYTHONPATH" in os.environ
    if not own_pythonpath:
        for path in (LANG_SITE, OPT, OPT_SITE):
            sys.path.insert(0, path)
    sys.path.insert(0, task_root)
    site.addsitedir(task_root)
    if not own_pythonpath:
        site.addsitedir(OPT_SITE)
        site.addsitedir(OPT)
        os.environ["PYTHONPATH"] = os.environ["LAMBDA_RUNTIME_DIR"]
    handler = os.environ["_HANDLER"]
    if os.environ.get("ML_LAMBDA_PROBE") == "1":
        os.environ["ML_LAMBDA_PROBE_TARGET"] = handler
        handler = "ml_lambda_probe.handler"
    ric.main([task_root, handler])


if __name__ == "__main__":
    main()
