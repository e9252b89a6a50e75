"""Docker RUN step 1: install the function's dependencies into the task root.

    python3 install_deps.py REQUIREMENTS TARGET [EXTRA_INDEX_URL]

Binary wheels only: the Lambda base image has no compiler, and a package without a wheel for this Python and
platform should fail here, by name ("No matching distribution found for X"), not halfway through a source
build. EXTRA_INDEX_URL (the Dockerfile's TORCH_INDEX_URL) lets pip pick the CPU-only torch build; pip prefers
its "+cpu" local version over PyPI's CUDA build of the same release.
The same script runs outside Docker in python/tests/test_docker_steps.py.
"""
import subprocess
import sys
import time


def main(argv):
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    requirements, target = argv[0], argv[1]
    extra_index = argv[2] if len(argv) == 3 else ""
    cmd = [
        sys.executable, "-m", "pip", "install",
        "--no-cache-dir",  # a cache would only bloat the image layer
        "--disable-pip-version-check",
        "--progress-bar", "off",
        "--only-binary=:all:",
        "--target", target,
        "-r", requirements,
    ]
    if extra_index:
        cmd += ["--extra-index-url", extra_index]
    print(f"[install_deps] {' '.join(cmd)}", flush=True)
    started = time.monotonic()
    code = subprocess.call(cmd)
    if code != 0:
        print(f"[install_deps] pip failed (exit {code}); the message above names the package that has no "
              f"wheel for Python {sys.version_info.major}.{sys.version_info.minor} on this platform", file=sys.stderr)
        return code
    print(f"[install_deps] done in {time.monotonic() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
