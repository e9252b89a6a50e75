"""Docker RUN step 3: byte-compile the function's code.

    python3 compile_code.py TASK_ROOT

Lambda's file system is read-only, so Python cannot cache bytecode at run time: without .pyc files every cold
start compiles the sources again. `unchecked-hash` pycs are used without comparing source timestamps, which
image builds may rewrite. (pip already compiled the dependencies it installed.) Fails on a syntax error, so a
broken handler fails the build instead of the first invocation.
"""
import compileall
import py_compile
import sys
from pathlib import Path


def main(argv):
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    package = Path(argv[0]) / "app"
    if not package.is_dir():
        print(f"[compile_code] {package} is missing: COPY src/ to the task root first", file=sys.stderr)
        return 1
    ok = compileall.compile_dir(
        str(package),
        quiet=1,
        force=True,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
    if not ok:
        print("[compile_code] compilation failed (see above)", file=sys.stderr)
        return 1
    print(f"[compile_code] compiled {sum(1 for _ in package.rglob('*.py'))} modules under {package}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
