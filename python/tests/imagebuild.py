"""Runs python/Dockerfile without Docker: stage the build context the way the component does, then carry out its
instructions against a temporary root directory that stands in for the image's file system.

Only what our Dockerfile uses is supported (ARG, FROM, ENV, COPY, RUN, USER, CMD), and strictly: an instruction
this does not understand is an error, so the Dockerfile cannot drift away from what the tests run. RUN lines refer
to paths only through variables; a variable whose value is an absolute path is "re-rooted" under the temporary
root when a RUN step sees it (MODEL_DIR=/opt/ml/model becomes <root>/opt/ml/model), exactly as COPY
destinations are.

A RUN after `USER uid:gid` runs as that user (setpriv), in a private mount namespace where the interpreter's
prefix is bind-mounted read-only at <root>/var/lang (this machine's interpreters live under /root, which other
users cannot enter), as the image's /var/lang would be. The files it leaves in the root are recorded per step.
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

REPO = Path(__file__).resolve().parents[2]
PYTHON_DIR = REPO / "python"
DOCKERFILE = PYTHON_DIR / "Dockerfile"
CACHE = REPO / ".cache" / "docker-steps"

# The environment AWS's Lambda base images define (documented in their Dockerfiles).
BASE_IMAGE_ENV = {
    "LAMBDA_TASK_ROOT": "/var/task",
    "LAMBDA_RUNTIME_DIR": "/var/runtime",
    "LANG": "en_US.UTF-8",
}

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def instructions(text: str) -> List[Tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    out: List[Tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def substitute(text: str, values: Dict[str, str]) -> str:
    def repl(m: re.Match) -> str:
        name = m.group(1) or m.group(2)
        if name not in values:
            raise KeyError(f"Dockerfile uses ${{{name}}}, which is not defined at that point")
        return values[name]

    return _VAR.sub(repl, text)


def parse_env(args: str) -> Dict[str, str]:
    pairs = {}
    for token in shlex.split(args):
        key, eq, value = token.partition("=")
        if not eq:
            raise ValueError(f"ENV {args!r}: only the KEY=VALUE form is supported")
        pairs[key] = value
    return pairs


# The modes components/imageContext.ts gives the staged context (COPY keeps them; see python/Dockerfile).
MODEL_FILE_MODE, FILE_MODE, DIR_MODE = 0o444, 0o644, 0o755


def stage_context(dest: Path, model_dir: Path, requirements: Path = PYTHON_DIR / "requirements.txt") -> Path:
    """The staged build context the component writes (see the header of python/Dockerfile), modes included."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".DS_Store")
    dest.mkdir(parents=True)
    shutil.copy2(DOCKERFILE, dest / "Dockerfile")
    shutil.copy2(PYTHON_DIR / ".dockerignore", dest / ".dockerignore")
    shutil.copy2(requirements, dest / "requirements.txt")
    shutil.copytree(PYTHON_DIR / "src", dest / "src", ignore=ignore)
    shutil.copytree(PYTHON_DIR / "docker", dest / "docker", ignore=ignore)
    shutil.copytree(model_dir, dest / "model", ignore=ignore)
    for p in [dest, *dest.rglob("*")]:
        if p.is_dir():
            os.chmod(p, DIR_MODE)
        else:
            os.chmod(p, MODEL_FILE_MODE if p.is_relative_to(dest / "model") else FILE_MODE)
    return dest


def find_image_python() -> Path:
    """An interpreter to stand in for the image's /var/lang/bin/python3: Python 3.12 (Lambda's default runtime)
    if this machine has one, else the interpreter running the tests."""
    explicit = os.environ.get("ML_LAMBDA_IMAGE_PYTHON")
    candidates = [explicit] if explicit else []
    pyenv_root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates += sorted(glob.glob(f"{pyenv_root}/versions/3.12*/bin/python3.12"), reverse=True)
    candidates += [shutil.which("python3.12") or ""]
    for c in candidates:
        if not c:
            continue
        try:
            prefix = subprocess.run([c, "-c", "import sys; print(sys.base_prefix)"], capture_output=True, text=True, timeout=30)
        except OSError:
            continue
        if prefix.returncode == 0:
            return Path(c).resolve()
    return Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"


def python_prefix(python: Path) -> Path:
    out = subprocess.run([str(python), "-c", "import sys; print(sys.base_prefix)"], capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def python_version(python: Path) -> str:
    out = subprocess.run([str(python), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def link_tree(src: Path, dest: Path) -> None:
    """Copy a directory tree by hard links (instant, no space), or by copying when links are impossible."""
    dest.mkdir(parents=True, exist_ok=True)
    if subprocess.run(["cp", "-al", f"{src}/.", str(dest)], capture_output=True).returncode != 0:
        subprocess.run(["cp", "-a", f"{src}/.", str(dest)], check=True)


@dataclass
class Build:
    root: Path
    context: Path
    python: Path
    build_args: Dict[str, str]
    say: Callable[[str], None] = print
    env: Dict[str, str] = field(default_factory=dict)  # the image's environment (image-space paths)
    args: Dict[str, str] = field(default_factory=dict)  # ARGs in scope
    base_image: str = ""
    cmd: Optional[List[str]] = None
    steps: List[str] = field(default_factory=list)
    user: str = ""  # the USER in effect ("" = root)
    # RUN step (as written) -> paths under the root that it created or changed
    left_behind: Dict[str, List[str]] = field(default_factory=dict)
    outputs: Dict[str, str] = field(default_factory=dict)  # RUN step (as written) -> its stdout

    def reroot(self, value: str) -> str:
        return str(self.root) + value if value.startswith("/") else value

    def host_values(self) -> Dict[str, str]:
        return {k: self.reroot(v) for k, v in {**self.args, **self.env}.items()}

    def run(self) -> "Build":
        bin_dir = self.root.parent / f"{self.root.name}-bin"
        bin_dir.mkdir(exist_ok=True)
        for name in ("python3", "python"):
            link = bin_dir / name
            if not link.exists():
                link.symlink_to(self.python)
        self._bin = bin_dir
        # Where a non-root step finds the interpreter (see _as_user); made here so no step is blamed for it.
        (self.root / "var" / "lang").mkdir(parents=True, exist_ok=True)
        seen_from = False
        for instr, rest in instructions(DOCKERFILE.read_text()):
            if instr == "ARG":
                name, eq, default = rest.partition("=")
                value = self.build_args.get(name, substitute(default, self.args) if eq else "")
                self.args[name] = value
            elif instr == "FROM":
                self.base_image = substitute(rest, self.args)
                # Build args before FROM are visible to FROM only; the base image brings its own environment.
                self.args = {}
                self.env = dict(BASE_IMAGE_ENV)
                seen_from = True
            elif instr == "ENV":
                for k, v in parse_env(rest).items():
                    self.env[k] = substitute(v, {**self.args, **self.env})
            elif instr == "COPY":
                self._copy(rest)
            elif instr == "RUN":
                self._run(rest)
            elif instr == "USER":
                self.user = "" if rest.strip() in ("root", "0", "0:0") else rest.strip()
            elif instr == "CMD":
                self.cmd = json.loads(rest)
            else:
                raise ValueError(f"imagebuild does not support {instr}: extend it, or keep the Dockerfile simple")
            if instr != "ARG" and not seen_from:
                raise ValueError("instructions before FROM other than ARG")
        return self

    def _copy(self, rest: str) -> None:
        parts = shlex.split(rest)
        if any(p.startswith("--") for p in parts) or len(parts) != 2:
            raise ValueError(f"COPY {rest!r}: only 'COPY SRC DEST' is supported")
        src = self.context / parts[0].rstrip("/")
        dest = Path(self.reroot(substitute(parts[1], {**self.args, **self.env})))
        self.steps.append(f"COPY {parts[0]} {dest}")
        if src.is_dir():
            shutil.copytree(src, dest, dirs_exist_ok=True, copy_function=shutil.copy2)
        else:
            dest = dest / src.name if parts[1].endswith("/") else dest
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest)

    def _run(self, rest: str) -> None:
        command = substitute(rest, self.host_values())
        env = {
            "PATH": f"{self._bin}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.root / "root"),
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            **{k: v for k, v in os.environ.items() if k.startswith(("PIP_", "SSL_", "REQUESTS_CA", "CURL_CA"))},
            **self.host_values(),
        }
        (self.root / "root").mkdir(exist_ok=True)
        self.steps.append(f"RUN {command}")
        if "install_deps.py" in rest:
            self._install_cached(rest, command, env)
            return
        self.say(f"RUN {rest}" + (f"  [as {self.user}]" if self.user else ""))
        before = self._snapshot()
        argv = self._as_user(command, env) if self.user else ["/bin/sh", "-c", command]
        proc = subprocess.run(argv, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise AssertionError(f"RUN {rest} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        after = self._snapshot()
        self.left_behind[rest] = sorted(p for p, sig in after.items() if before.get(p) != sig)
        self.outputs[rest] = proc.stdout
        self.last_output = proc.stdout

    def _snapshot(self) -> Dict[str, Tuple[int, int, int]]:
        out = {}
        for dirpath, dirnames, filenames in os.walk(self.root):
            for name in dirnames + filenames:
                p = os.path.join(dirpath, name)
                st = os.lstat(p)
                out[os.path.relpath(p, self.root)] = (st.st_mode, st.st_size, st.st_mtime_ns)
        return out

    def _as_user(self, command: str, env: Dict[str, str]) -> List[str]:
        """argv running `command` as self.user with the interpreter at <root>/var/lang (read-only bind mount)."""
        uid, _, gid = self.user.partition(":")
        lang = self.root / "var" / "lang"
        prefix = python_prefix(self.python)
        env["PATH"] = f"{lang}/bin:/usr/bin:/bin"
        env["LD_LIBRARY_PATH"] = f"{lang}/lib"
        env["HOME"] = "/"  # what Docker gives a uid without a passwd entry
        inner = (
            f"mount --bind {shlex.quote(str(prefix))} {shlex.quote(str(lang))} && "
            f"mount -o remount,bind,ro {shlex.quote(str(lang))} && "
            f"exec setpriv --reuid={uid} --regid={gid or uid} --clear-groups -- /bin/sh -c {shlex.quote(command)}"
        )
        return ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", inner]

    def _install_cached(self, template: str, command: str, env: Dict[str, str]) -> None:
        """The dependency step is the one slow step (several GB of torch wheels). Its result depends only on the
        command, the requirements, the script and the interpreter; reuse it when all are unchanged."""
        target = Path(self.reroot(self.env["LAMBDA_TASK_ROOT"]))
        key = hashlib.sha256(
            json.dumps([
                template,
                (self.context / "requirements.txt").read_text(),
                (self.context / "docker" / "install_deps.py").read_text(),
                str(self.python),
                python_version(self.python),
                self.build_args,
            ]).encode()
        ).hexdigest()[:16]
        cached = CACHE / key
        if (cached / "done").exists():
            self.say(f"RUN {template}  [reusing the result of this exact step from .cache/docker-steps/{key}]")
            link_tree(cached / "task", target)
            return
        self.say(f"RUN {template}  [first run for these inputs: installs the requirements, a few minutes]")
        proc = subprocess.run(["/bin/sh", "-c", command], env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise AssertionError(f"dependency step failed ({proc.returncode}):\n{proc.stdout[-5000:]}\n{proc.stderr[-5000:]}")
        shutil.rmtree(CACHE / f"{key}.tmp", ignore_errors=True)
        link_tree(target, CACHE / f"{key}.tmp" / "task")
        (CACHE / f"{key}.tmp" / "done").write_text(proc.stdout[-2000:])
        shutil.rmtree(cached, ignore_errors=True)
        os.rename(CACHE / f"{key}.tmp", cached)
        # Older results for other inputs would only fill the disk.
        for old in CACHE.iterdir():
            if old.name != key:
                shutil.rmtree(old, ignore_errors=True)
