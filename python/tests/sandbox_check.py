"""Runs inside the test's stand-in for a Lambda execution environment (see test_docker_steps.py): first proves the
sandbox is what it claims (no network but loopback, not root, code and model read-only), then runs the image's
smoke step (docker/smoke.py) there. Prints one JSON object on its last line.

    python -S sandbox_check.py SMOKE_SCRIPT TASK_ROOT
"""
import json
import os
import runpy
import socket
import sys


def cannot_write(directory):
    probe = os.path.join(directory, ".write-probe")
    try:
        with open(probe, "w") as f:
            f.write("x")
    except OSError as e:
        return f"{type(e).__name__}: {e.strerror}"
    os.unlink(probe)
    return None


def main():
    smoke, task_root = sys.argv[1], sys.argv[2]
    facts = {
        "uid": os.getuid(),
        "interfaces": [name for _, name in socket.if_nameindex()],
        "model_dir_write": cannot_write(os.environ["MODEL_DIR"]),
        "task_root_write": cannot_write(task_root),
        "site_packages_on_path": [p for p in sys.path if "site-packages" in p],
    }
    print(json.dumps({"sandbox": facts}), flush=True)
    sys.argv = [smoke, task_root]
    try:
        runpy.run_path(smoke, run_name="__main__")
    except SystemExit as e:
        sys.exit(e.code)


if __name__ == "__main__":
    main()
