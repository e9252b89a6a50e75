"""Docker RUN step 2: check the model COPY'd to MODEL_DIR. Writes nothing, so the model stays in one layer.

    python3 place_model.py MODEL_DIR

Lambda runs the image as a non-root user on a read-only file system, so every model file must be readable and
every directory traversable by any user. COPY keeps the build context's modes; the component stages the model
with files 0444 and directories 0755 (components/imageContext.ts). Fixing modes here instead (chmod after COPY)
would store the whole model a second time, in this step's layer. Also refuses links and a model nested one
directory too deep, the two ways a hand-assembled model directory usually goes wrong.
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
            files += 1
            total += (Path(root) / name).stat().st_size
    print(f"[place_model] {model_dir}: {files} files, {total:,} bytes, readable by any user", flush=True)
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
            rel = path.relative_to(model_dir)
            if stat.S_ISLNK(mode):
                return f"{rel} is a symlink; stage the model with links resolved"
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                return f"{rel} is not a regular file"
            needed = 0o005 if stat.S_ISDIR(mode) else 0o004
            if stat.S_IMODE(mode) & needed != needed:
                what = "traversable" if stat.S_ISDIR(mode) else "readable"
                return (f"{rel} has mode {stat.S_IMODE(mode):04o}: not {what} by other users, and Lambda runs the "
                        f"image as a non-root user. Stage the model with files 0444 and directories 0755 (the "
                        f"component's staged context does); a chmod in the Dockerfile would copy the model again")
    if not (model_dir / "config.json").is_file():
        subdirs = [e.name for e in entries if e.is_dir()]
        hint = f" (found only the directory {subdirs[0]!r}: the files must be at the root, not inside it)" if len(entries) == 1 and subdirs else ""
        return f"no config.json at the root of the model directory{hint}"
    return None


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
