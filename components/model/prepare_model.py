#!/usr/bin/env python3
"""Prepare the model artifact for an MlLambda function (build step, run by the component on the deploy host).

Resolves the model (a local directory, or a Hugging Face repository pinned to a commit), keeps only the files
sentence-transformers loads, and writes:
  - a staged copy (plain files, no symlinks) for the image build context, and
  - a deterministic .tar.gz (files at the archive root) whose sha256 names the S3 object.
Both are cached under --cache by a hash of the selected files' contents, so an unchanged model costs a hash pass.

For the onnx backends (--backend onnx | onnx-int8) the artifact is not the source directory but an ONNX export of
it: model.onnx (fp32, or dynamically quantized to int8) + the tokenizer and the configs the function reads
(app/backends/onnx_backend.py) + ml_lambda_onnx.json (how it was made, and its measured parity). The export runs
torch, transformers, sentence-transformers, onnx and onnxruntime, which the deploy host may not have and the
function never ships, in an "export Python":
  - ML_LAMBDA_EXPORT_PYTHON, if set (checked to have those packages; the error lists what is missing), or
  - --export-python: the virtualenv the component creates once under <cache>/export-venv/<hash> from
    python/requirements-export.txt (components/venv.ts, the one venv manager of the build).
The export itself is the second program, export_onnx.py, run in that Python. It is cached under
<cache>/onnx/<hash of the source files, the backend, the opset, the export Python's package versions and both
programs>; every export is checked against sentence-transformers on a fixed corpus with the function's own ONNX
backend, and refused below cosine 0.999 (fp32) / 0.98 (int8).

Standard library only: this runs on the deploy host, with whatever python3 it has.
Prints one JSON object on stdout; progress and diagnostics go to stderr.
"""
from __future__ import annotations

import argparse
import fnmatch
import gzip
import hashlib
import io
import json
import os
import shutil
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

# The export program's constants (it imports only the standard library until it runs).
from export_onnx import EXPORT_FORMAT, EXPORT_PACKAGES, MANIFEST, ONNX_BACKENDS, ONNX_OPSET

EXPORT_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "export_onnx.py")

# Bump when the archive layout changes, so old cache entries are not reused for a new format.
FORMAT_VERSION = "1"

# Files sentence-transformers never loads on our path: other frameworks' weights, docs, training metadata.
# An exclude list (not an allow list) keeps custom models with extra modules working.
EXCLUDE = [
    ".gitattributes", "README.md", "*.md", "data_config.json", "train_script.py",
    "onnx/*", "openvino/*", "*.h5", "*.msgpack", "*.ot", "tf_model*", "flax_model*", "rust_model*",
    "coreml/*", "*.mlmodel",
]
# When safetensors weights exist, the pickle copy is dead weight (and pickle loading is unsafe).
EXCLUDE_IF_SAFETENSORS = ["pytorch_model.bin"]

FIXED_MTIME = 0

# Source files the ONNX artifact does not carry: the torch weights (the graph replaces them).
WEIGHTS = ["*.safetensors", "pytorch_model.bin", "*.onnx", "*.pt", "*.pth"]

def log(msg: str) -> None:
    print(f"[ml-lambda model] {msg}", file=sys.stderr, flush=True)


class UserError(Exception):
    def __init__(self, setting: str, value: object, limit: str, fix: str):
        super().__init__(limit)
        self.setting, self.value, self.limit, self.fix = setting, value, limit, fix


def hub_cache_dirs(own_cache: str) -> list[str]:
    """Hugging Face's own cache locations, in its precedence order, then ours."""
    dirs = []
    if os.environ.get("HF_HUB_CACHE"):
        dirs.append(os.environ["HF_HUB_CACHE"])
    if os.environ.get("HF_HOME"):
        dirs.append(os.path.join(os.environ["HF_HOME"], "hub"))
    dirs.append(os.path.join(os.path.expanduser("~"), ".cache", "huggingface", "hub"))
    dirs.append(os.path.join(own_cache, "hub"))
    return dirs


def snapshot_dir(cache: str, repo_id: str, revision: str) -> str:
    return os.path.join(cache, "models--" + repo_id.replace("/", "--"), "snapshots", revision)


def is_model_dir(d: str) -> bool:
    return os.path.isfile(os.path.join(d, "config.json")) or os.path.isfile(os.path.join(d, "modules.json"))


def excluded(rel: str, has_safetensors: bool) -> bool:
    patterns = EXCLUDE + (EXCLUDE_IF_SAFETENSORS if has_safetensors else [])
    base = os.path.basename(rel)
    return any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(base, p) for p in patterns)


def download_from_hub(repo_id: str, revision: str, dest: str) -> None:
    """Download the selected files of one commit into an HF-cache-shaped snapshot directory, atomically."""
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    headers = {"User-Agent": "pulumi-ml-lambda"}
    if os.environ.get("HF_TOKEN"):
        headers["Authorization"] = f"Bearer {os.environ['HF_TOKEN']}"

    def get(url: str, timeout: float = 60):
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)

    api = f"{endpoint}/api/models/{repo_id}/revision/{urllib.parse.quote(revision, safe='')}"
    try:
        with get(api, timeout=20) as r:
            info = json.load(r)
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise UserError(
            "model", f"{repo_id}@{revision}",
            f"the model is not in a local Hugging Face cache and {endpoint} could not be reached ({e})",
            f"run where {endpoint} is reachable, pre-fill the cache with "
            f"`huggingface-cli download {repo_id} --revision {revision}`, or set model.path to a local directory",
        ) from e
    files = sorted(s["rfilename"] for s in info.get("siblings", []))
    has_st = any(f.endswith("model.safetensors") for f in files)
    wanted = [f for f in files if not excluded(f, has_st)]
    if not wanted:
        raise UserError("model", f"{repo_id}@{revision}", "the repository lists no model files at that revision",
                        "check the id and the revision on the Hub")
    parent = os.path.dirname(dest)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".download-", dir=parent)
    try:
        for i, f in enumerate(wanted, 1):
            url = f"{endpoint}/{repo_id}/resolve/{revision}/{urllib.parse.quote(f)}"
            target = os.path.join(tmp, f)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            log(f"downloading {repo_id}@{revision[:12]} [{i}/{len(wanted)}] {f}")
            try:
                with get(url, timeout=300) as r, open(target, "wb") as out:
                    shutil.copyfileobj(r, out, 1024 * 1024)
            except (urllib.error.URLError, OSError) as e:
                raise UserError(
                    "model", f"{repo_id}@{revision}", f"downloading {f} from {url} failed ({e}); nothing was kept",
                    "retry; for a gated or private model set HF_TOKEN; or set model.path to a local copy",
                ) from e
        os.replace(tmp, dest)  # a half download is never visible under the snapshot name
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def resolve_source(args) -> tuple[str, str, str]:
    """Returns (directory, display name, how it was found)."""
    if args.path:
        d = os.path.abspath(args.path)
        if not os.path.isdir(d) or not is_model_dir(d):
            raise UserError("model.path", args.path,
                            "must be a directory holding a sentence-transformers model (config.json or modules.json)",
                            "point model.path at the model directory, or use { id, revision } for a Hub model")
        return d, args.name or os.path.basename(d.rstrip("/")), "path"
    repo_id, revision = args.hub_id, args.revision
    for cache in hub_cache_dirs(args.cache):
        d = snapshot_dir(cache, repo_id, revision)
        if is_model_dir(d):
            log(f"{repo_id}@{revision[:12]} found in {cache}")
            return d, repo_id.split("/")[-1], "hub-cache"
    dest = snapshot_dir(os.path.join(args.cache, "hub"), repo_id, revision)
    download_from_hub(repo_id, revision, dest)
    return dest, repo_id.split("/")[-1], "hub-download"


def select_files(src: str) -> list[str]:
    rels = []
    for root, dirs, files in os.walk(src, followlinks=True):  # HF cache snapshots are symlinks into blobs/
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for f in files:
            rels.append(os.path.relpath(os.path.join(root, f), src))
    has_st = any(r.endswith("model.safetensors") for r in rels)
    return sorted(r for r in rels if not excluded(r, has_st) and not r.startswith("."))


def _sha256_read(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1024 * 1024), b""):
            h.update(chunk)
    return h.hexdigest()


class Memo:
    """Content hashes of files this script has read before, keyed by what the file system says about them (device,
    inode, size, modification time in ns), as git's index and make do: an unchanged model costs a stat per file,
    not a read of ~90 MB (three times: source, export, archive) on every preview. Any change to a file changes its
    size or mtime, so its hash is recomputed; the keys built from these hashes stay content hashes.
    Also remembers the export Python's package versions, keyed by the interpreter and its site-packages' mtimes
    (pip changes them on every install or removal). A lost or corrupt memo only costs the reads again."""

    def __init__(self, cache: str) -> None:
        self.path = os.path.join(cache, "prepare-memo.json")
        self.changed = False
        try:
            with open(self.path) as f:
                data = json.load(f)
            self.files: dict = data.get("files", {})
            self.probes: dict = data.get("probes", {})
        except (OSError, ValueError, AttributeError):
            self.files, self.probes = {}, {}

    @staticmethod
    def _stat_key(path: str) -> list:
        st = os.stat(path)
        return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns]

    def sha256(self, path: str) -> str:
        path = os.path.abspath(path)
        key = self._stat_key(path)
        hit = self.files.get(path)
        if hit and hit[:4] == key:
            return hit[4]
        digest = _sha256_read(path)
        self.files[path] = key + [digest]
        self.changed = True
        return digest

    def save(self) -> None:
        if not self.changed:
            return
        # Drop entries for files that are gone (old exports, temporary copies) so the memo stays small.
        self.files = {p: v for p, v in self.files.items() if os.path.exists(p)}
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        tmp = f"{self.path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump({"files": self.files, "probes": self.probes}, f)
        os.replace(tmp, self.path)  # concurrent runs: the last one wins, which is fine for a memo


_MEMO: "Memo | None" = None


def sha256_file(path: str) -> str:
    return _MEMO.sha256(path) if _MEMO is not None else _sha256_read(path)


def write_archive(src: str, rels: list[str], out: str) -> None:
    """Deterministic tar.gz: sorted entries, fixed mtime/owner/modes, gzip header without name or time."""
    tmp = out + ".tmp"
    with open(tmp, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=FIXED_MTIME, compresslevel=6) as gz:
            with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
                dirs = sorted({os.path.dirname(r) for r in rels if os.path.dirname(r)})
                for d in dirs:
                    ti = tarfile.TarInfo(d)
                    ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, FIXED_MTIME
                    tar.addfile(ti)
                for r in rels:
                    p = os.path.join(src, r)
                    ti = tarfile.TarInfo(r)
                    ti.size, ti.mode, ti.mtime = os.path.getsize(p), 0o644, FIXED_MTIME
                    with open(p, "rb") as f:
                        tar.addfile(ti, f)
    os.replace(tmp, out)


# ---------------------------------------------------------------- onnx backends: host side (standard library)


def file_manifest(src: str, rels: list[str]) -> str:
    return "".join(f"{r}\t{os.path.getsize(os.path.join(src, r))}\t{sha256_file(os.path.join(src, r))}\n" for r in rels)


PROBE = (
    "import importlib.metadata as m, json, sys\n"
    "out = {}\n"
    "for p in sys.argv[1:]:\n"
    "    try:\n"
    "        out[p] = m.version(p)\n"
    "    except m.PackageNotFoundError:\n"
    "        out[p] = None\n"
    "import site\n"
    "dirs = [d for d in site.getsitepackages() if __import__('os').path.isdir(d)]\n"
    "print(json.dumps({'python': sys.version.split()[0], 'packages': out, 'site': dirs}))\n"
)


def _probe_memo_key(python: str) -> "str | None":
    # Only for an interpreter given by path: a bare name (python3) may resolve differently next time (PATH, pyenv).
    if _MEMO is None or not os.path.isabs(python):
        return None
    entry = _MEMO.probes.get(python)
    if not entry:
        return None
    try:
        stamp = [Memo._stat_key(p) for p in [os.path.realpath(python), *entry["site"]]]
    except OSError:
        return None
    return json.dumps(stamp)


def probe_export_python(python: str, setting: str) -> dict:
    """The export Python's version and package versions (importlib.metadata: no torch import, ~0.1 s), remembered
    until the interpreter or its site-packages change."""
    import subprocess

    stamp = _probe_memo_key(python)
    if stamp is not None and _MEMO.probes[python].get("stamp") == stamp:
        return _MEMO.probes[python]["info"]
    try:
        r = subprocess.run([python, "-c", PROBE, *EXPORT_PACKAGES], capture_output=True, text=True, timeout=120)
    except OSError as e:
        raise UserError(setting, python, f"cannot run the ONNX export Python ({e})",
                        "point ML_LAMBDA_EXPORT_PYTHON at a Python 3 executable, or unset it") from e
    if r.returncode != 0:
        raise UserError(setting, python, f"the ONNX export Python failed to start: {r.stderr.strip()[-300:]}",
                        "point ML_LAMBDA_EXPORT_PYTHON at a working Python 3, or unset it")
    info = json.loads(r.stdout.strip().splitlines()[-1])
    site = info.pop("site", [])
    missing = [p for p in EXPORT_PACKAGES if not info["packages"].get(p)]
    if missing:
        raise UserError(
            setting, python,
            f"the ONNX export (backend onnx / onnx-int8) needs {', '.join(EXPORT_PACKAGES)} in its Python; "
            f"missing: {', '.join(missing)}",
            "install python/requirements-export.txt into that Python (`python -m pip install -r "
            "python/requirements-export.txt`), or unset ML_LAMBDA_EXPORT_PYTHON so the component creates its own "
            "export environment under its cache",
        )
    if _MEMO is not None and site and os.path.isabs(python):
        _MEMO.probes[python] = {"site": site, "info": info}
        _MEMO.probes[python]["stamp"] = _probe_memo_key(python)
        _MEMO.changed = True
    return info


def export_python(args) -> tuple[str, str]:
    """ML_LAMBDA_EXPORT_PYTHON, else the managed environment the component made (--export-python)."""
    chosen = os.environ.get("ML_LAMBDA_EXPORT_PYTHON")
    if chosen:
        return chosen, "ML_LAMBDA_EXPORT_PYTHON"
    if args.export_python:
        return args.export_python, "managed"
    raise UserError("ML_LAMBDA_EXPORT_PYTHON", None,
                    "the ONNX export needs a Python with torch, transformers, sentence-transformers, onnx and "
                    "onnxruntime, and none was given",
                    "set ML_LAMBDA_EXPORT_PYTHON to such a Python")


def prepare_onnx(src: str, rels: list[str], args) -> tuple[str, list[str], dict]:
    """The ONNX artifact's directory and files, exported now or found in the cache."""
    import subprocess

    python, how = export_python(args)
    info = probe_export_python(python, "ML_LAMBDA_EXPORT_PYTHON" if how != "managed" else "export environment")
    script_hash = hashlib.sha256()
    for program in (os.path.abspath(__file__), EXPORT_SCRIPT):  # both decide what the artifact holds
        with open(program, "rb") as f:
            script_hash.update(f.read())
    key = hashlib.sha256(json.dumps({
        "format": EXPORT_FORMAT,
        "backend": args.backend,
        "opset": ONNX_OPSET,
        "source": file_manifest(src, rels),
        "python": info["python"],
        "packages": info["packages"],
        "script": script_hash.hexdigest(),
    }, sort_keys=True).encode()).hexdigest()
    root = os.path.join(args.cache, "onnx")
    out = os.path.join(root, key)
    summary = {"python": python, "via": how, "key": key, "packages": info["packages"]}
    if os.path.isfile(os.path.join(out, MANIFEST)):
        with open(os.path.join(out, MANIFEST)) as f:
            manifest = json.load(f)
        return out, select_files(out), {**summary, "cached": True, "parity": manifest.get("parity"), "seconds": 0.0}
    os.makedirs(root, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".export-", dir=root)
    started = time.time()
    log(f"exporting {src} to ONNX for backend {args.backend} with {python} ({how})")
    try:
        # Everything the backend reads besides the graph (tokenizer, configs, pooling config) goes in first.
        for r in rels:
            if any(fnmatch.fnmatch(os.path.basename(r), p) for p in WEIGHTS):
                continue
            os.makedirs(os.path.dirname(os.path.join(tmp, r)) or tmp, exist_ok=True)
            shutil.copyfile(os.path.join(src, r), os.path.join(tmp, r))
        cmd = [python, EXPORT_SCRIPT, "--source", src, "--out", tmp, "--backend", args.backend]
        if args.function_src:
            cmd += ["--function-src", args.function_src]
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=sys.stderr, text=True)
        lines = [line for line in r.stdout.strip().splitlines() if line.startswith("{")]
        answer = json.loads(lines[-1]) if lines else {}
        if r.returncode != 0 or not answer.get("ok"):
            detail = answer.get("error") or f"exit {r.returncode}, see the output above"
            raise UserError("backend", args.backend, f"exporting the model to ONNX failed: {detail}",
                            answer.get("fix") or "use backend torch for this model, or fix the cause above")
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    seconds = round(time.time() - started, 3)
    log(f"ONNX export done in {seconds} s; parity cosine min {answer['parity']['cosine_min']:.6f}")
    return out, select_files(out), {**summary, "cached": False, "parity": answer["parity"], "seconds": seconds}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", required=True)
    ap.add_argument("--path")
    ap.add_argument("--name")
    ap.add_argument("--hub-id")
    ap.add_argument("--revision")
    ap.add_argument("--backend", default="torch", choices=("torch",) + ONNX_BACKENDS)
    ap.add_argument("--export-python", help="the export environment's python, when ML_LAMBDA_EXPORT_PYTHON is unset (onnx backends)")
    ap.add_argument("--function-src", help="the function's code root (python/src), for the export's parity check")
    args = ap.parse_args()
    t0 = time.time()
    global _MEMO
    _MEMO = Memo(args.cache)
    try:
        src, name, found = resolve_source(args)
        source_dir = src
        rels = select_files(src)
        if not rels:
            raise UserError("model", src, "no model files left after filtering", "check the model directory")
        export = None
        if args.backend in ONNX_BACKENDS:
            src, rels, export = prepare_onnx(src, rels, args)
        manifest = io.StringIO()
        unpacked = 0
        for r in rels:
            p = os.path.join(src, r)
            size = os.path.getsize(p)
            unpacked += size
            manifest.write(f"{r}\t{size}\t{sha256_file(p)}\n")
        content_key = hashlib.sha256((FORMAT_VERSION + "\n" + manifest.getvalue()).encode()).hexdigest()
        base = os.path.join(args.cache, "models", content_key)
        archive = base + ".tar.gz"
        staged = base + ".dir"
        if not os.path.exists(archive):
            os.makedirs(os.path.dirname(archive), exist_ok=True)
            log(f"archiving {len(rels)} files ({unpacked / 1e6:.1f} MB) from {src}")
            write_archive(src, rels, archive)
        if not os.path.isdir(staged):
            tmp = tempfile.mkdtemp(prefix=".stage-", dir=os.path.dirname(staged))
            for r in rels:
                os.makedirs(os.path.join(tmp, os.path.dirname(r)), exist_ok=True)
                shutil.copyfile(os.path.join(src, r), os.path.join(tmp, r))  # resolves HF cache symlinks
            os.chmod(tmp, 0o755)
            os.replace(tmp, staged)
        result = {
            "name": name,
            "source": found,
            "sourceDir": source_dir,
            "backend": args.backend,
            "export": export,
            "stagedDir": staged,
            "archive": archive,
            "sha256": sha256_file(archive),
            "bytes": os.path.getsize(archive),
            "unpackedBytes": unpacked,
            "files": rels,
            "contentKey": content_key,
            "seconds": round(time.time() - t0, 3),
        }
        print(json.dumps(result))
        return 0
    except UserError as e:
        log(f"error: {e.limit}")
        print(json.dumps({"error": e.limit, "setting": e.setting, "value": e.value, "limit": e.limit, "fix": e.fix}))
        return 2
    finally:
        try:
            _MEMO.save()
        except OSError as e:  # a read-only or full cache only loses the memo
            log(f"could not save {_MEMO.path}: {e}")


if __name__ == "__main__":
    sys.exit(main())
