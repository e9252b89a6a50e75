"""Compile a layer's Python files into a separate tree that holds only the bytecode, for the benchmark.

  <runtime python> bytecode_layer.py SRC_LAYER_DIR OUT_DIR [--mount /opt]

Writes OUT_DIR/<rel>/__pycache__/<name>.cpython-XY.pyc for every SRC_LAYER_DIR/<rel>/<name>.py, hash-based
(unchecked: the runtime never stats the source to validate it, so the tree's timestamps do not matter) and named for
where the file runs (/opt/<rel>, for tracebacks). Mounted as a second layer over the first, the merged /opt is the
layer with its bytecode, as a container image built with `pip install` (which compiles) would have it: that is how
the benchmark runs the seed's 5.7 GB torch profile without copying it. Run it with the runtime's own interpreter:
bytecode is specific to the Python minor version.
"""
import argparse
import json
import os
import py_compile
import sys
from concurrent.futures import ProcessPoolExecutor


def compile_one(job):
    src, cfile, dfile = job
    try:
        py_compile.compile(src, cfile=cfile, dfile=dfile, doraise=True, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
        return os.path.getsize(cfile), None
    except (py_compile.PyCompileError, SyntaxError, UnicodeDecodeError, ValueError) as e:
        # Some packages ship Python-2 or template .py files that never import; pip's compile skips them too.
        return 0, f"{src}: {str(e).splitlines()[0] if str(e) else type(e).__name__}"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("src")
    p.add_argument("out")
    p.add_argument("--mount", default="/opt")
    a = p.parse_args()
    tag = sys.implementation.cache_tag
    jobs = []
    for root, dirs, files in os.walk(a.src):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        rel = os.path.relpath(root, a.src)
        for f in files:
            if not f.endswith(".py"):
                continue
            out_dir = os.path.join(a.out, rel, "__pycache__")
            jobs.append((os.path.join(root, f), os.path.join(out_dir, f"{f[:-3]}.{tag}.pyc"), os.path.normpath(os.path.join(a.mount, rel, f))))
    for d in {os.path.dirname(j[1]) for j in jobs}:
        os.makedirs(d, exist_ok=True)
    total, failed = 0, []
    with ProcessPoolExecutor() as pool:
        for size, err in pool.map(compile_one, jobs, chunksize=64):
            total += size
            if err:
                failed.append(err)
    for root, dirs, files in os.walk(a.out):
        os.chmod(root, 0o755)
        for f in files:
            os.chmod(os.path.join(root, f), 0o644)
    print(json.dumps({"py_files": len(jobs), "pyc_bytes": total, "failed": len(failed), "failed_examples": failed[:5], "tag": tag}))


if __name__ == "__main__":
    main()
