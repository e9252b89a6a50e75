"""Docker RUN step 2: check the model COPY'd to MODEL_DIR and make it readable, and only readable, by anyone.

    python3 place_model.py MODEL_DIR

Lambda runs the image as a non-root user on a read-only file system. COPY keeps the build context's modes, so
a model downloaded with 0600 files (as hub caches often are) would be unreadable at run time: fix the modes here
(directories 0555, files 0444). Also refuses links and a model nested one directory too deep, the two ways a
hand-assembled model directory usually goes wrong.
"""
import os
import stat
import sys
from pathlib import Path


def main(argv):
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    model_dir = Path(argv[0])
    problem = check(model_dir)
    if problem:
        print(f"[place_model] {model_dir}: {problem}", file=sys.stderr)
        return 1
    files = 0
    total = 0
    for root, dirs, names in os.walk(model_dir):
        for name in names:
            path = Path(root) / name
            os.chmod(path, 0o444)
            files += 1
            total += path.stat().st_size
        os.chmod(root, 0o555)
    print(f"[place_model] {model_dir}: {files} files, {total:,} bytes, read-only for everyone", flush=True)
    return 0


def check(model_dir: Path):
    if not model_dir.is_dir():
        return "not a directory; COPY the model directory there"
    entries = list(model_dir.iterdir())
    if not entries:
        return "empty; the build context's model/ directory holds no files"
    for root, dirs, names in os.walk(model_dir):
        for name in dirs + names:
            path = Path(root) / name
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                return f"{path.relative_to(model_dir)} is a symlink; stage the model with links resolved"
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                return f"{path.relative_to(model_dir)} is not a regular file"
    if not (model_dir / "config.json").is_file():
        subdirs = [e.name for e in entries if e.is_dir()]
        hint = f" (found only the directory {subdirs[0]!r}: the files must be at the root, not inside it)" if len(entries) == 1 and subdirs else ""
        return f"no config.json at the root of the model directory{hint}"
    return None


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
