"""Test-only probe of ml-lambda's faithful run (loaded only when ML_LAMBDA_PROBE=1; see bootstrap.py).

Wraps the function's real handler (ML_LAMBDA_PROBE_TARGET, imported here at init exactly as the runtime would
import it) and, after every invocation, writes one line to stderr:
  ML_LAMBDA_PROBE {"modules": {name: origin}, "maps": [...], "sys_path": [...], "tmp_at_start": [...], ...}
so a test can check where every loaded module and every mapped file came from, which paths are writable, and
that /tmp started empty. The function's response is returned unchanged.
"""
import errno
import importlib
import json
import os
import sys

# Before the function's module is imported: /tmp as the runtime found it.
TMP_AT_START = sorted(os.listdir("/tmp"))

# Files the process opens from Python (open(), os.open, imports: the "open" audit event; a C++ or Rust library's own
# reads are not seen) and the sockets it connects: from init on, so a test sees where the model was read from and
# whether anything was fetched over the network.
OPENED = set()
CONNECTS = []


def _audit(event, args):
    if event == "open":
        path = args[0]
        if isinstance(path, bytes):
            path = path.decode(errors="replace")
        if isinstance(path, str):
            OPENED.add(path)
    elif event == "socket.connect":
        CONNECTS.append(repr(args[1]))


sys.addaudithook(_audit)

_target = os.environ["ML_LAMBDA_PROBE_TARGET"]
_module_name, _, _function_name = _target.rpartition(".")
_function = getattr(importlib.import_module(_module_name), _function_name)


def _origin(module):
    """A file path, "built-in" / "frozen", "namespace:<paths>", or "synthetic" for a module made in memory by its
    parent package (typing.io, six.moves, pyexpat.errors): those have no file of their own."""
    origin = getattr(module, "__file__", None)
    if origin:
        return origin
    spec = getattr(module, "__spec__", None)
    if spec is not None and spec.origin not in (None, "namespace"):
        return spec.origin
    paths = list(getattr(module, "__path__", None) or [])
    if paths:
        return "namespace:" + ",".join(paths)
    return "synthetic"


def _maps():
    files = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                parts = line.split(None, 5)
                if len(parts) == 6 and parts[5].startswith("/"):
                    files.add(parts[5].strip())
    except OSError:
        pass
    return sorted(files)


def _writable(path):
    probe = os.path.join(path, ".ml-lambda-probe-write")
    try:
        with open(probe, "w") as f:
            f.write("x")
        os.unlink(probe)
        return "writable"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))


def handler(event, context):
    result = _function(event, context)
    report = {
        "modules": {name: _origin(m) for name, m in list(sys.modules.items()) if m is not None},
        "maps": _maps(),
        "sys_path": list(sys.path),
        "prefix": sys.prefix,
        "executable": sys.executable,
        "version": sys.version.split()[0],
        "uid": os.getuid(),
        "gid": os.getgid(),
        "cwd": os.getcwd(),
        "env": dict(os.environ),
        "tmp_at_start": TMP_AT_START,
        "tmp_now": sorted(os.listdir("/tmp")),
        "writable": {p: _writable(p) for p in ("/var/task", "/opt", "/var/runtime", "/var/lang", "/tmp")},
        "opened": sorted(p for p in OPENED if not p.startswith("/proc/")),
        "connects": list(CONNECTS),
    }
    os.write(2, ("ML_LAMBDA_PROBE " + json.dumps(report) + "\n").encode())
    return result
