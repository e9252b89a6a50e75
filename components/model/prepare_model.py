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
  - a virtualenv this script creates once under <cache>/export-venv/<hash> from --export-requirements
    (python/requirements-export.txt; pip honours PIP_INDEX_URL / PIP_EXTRA_INDEX_URL, e.g. PyTorch's CPU index).
The export is cached under <cache>/onnx/<hash of the source files, the backend, the opset, the export Python's
package versions and this script>; every export is checked against sentence-transformers on a fixed corpus
with the function's own ONNX backend, and refused below cosine 0.999 (fp32) / 0.98 (int8).

Standard library only on the host side: this runs on the deploy host before any virtualenv exists. The export
itself is this same file run as `<export python> prepare_model.py export-onnx ...`.
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

ONNX_BACKENDS = ("onnx", "onnx-int8")
# Bump when the export's output changes for the same inputs (layout, graph passes, quantization settings).
EXPORT_FORMAT = "1"
# ONNX opset of the exported graph: 17 is the newest the TorchScript exporter emits LayerNormalization natively
# for, and every onnxruntime since 1.14 runs it.
ONNX_OPSET = 17
# What the export Python must have (distribution names), and what its versions key the export cache on.
EXPORT_PACKAGES = ("torch", "transformers", "sentence-transformers", "onnx", "onnxruntime", "tokenizers", "numpy")
# Parity floors: minimum cosine similarity, over the corpus below, between the export run by the function's own
# ONNX backend and sentence-transformers on torch.
PARITY_FLOOR = {"onnx": 0.999, "onnx-int8": 0.98}
# Source files the ONNX artifact does not carry: the torch weights (the graph replaces them).
WEIGHTS = ["*.safetensors", "pytorch_model.bin", "*.onnx", "*.pt", "*.pth"]
MANIFEST = "ml_lambda_onnx.json"
PARITY_CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "How do I reset my password?",
    "I forgot my password and need to change it.",
    "The stock market fell sharply today.",
    "A man is playing a guitar on the street.",
    "Simmer the tomato sauce for twenty minutes before adding basil.",
    "The telescope captured images of a distant spiral galaxy.",
    "The striker scored twice in the second half of the match.",
    "Deploy the service behind a load balancer and cache the results.",
    "hello",
    "   leading and trailing spaces   ",
    "UPPER CASE TEXT SHOULD MATCH LOWER CASE TEXT",
    "émigré café naïve résumé",
    "Lambda functions scale to zero when idle. " * 40,
]


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


def managed_export_python(cache: str, requirements: str | None) -> str:
    """A virtualenv with the export requirements, created once per requirements file and host Python."""
    if not requirements or not os.path.isfile(requirements):
        raise UserError("ML_LAMBDA_EXPORT_PYTHON", None,
                        "the ONNX export needs a Python with torch, transformers, sentence-transformers, onnx and "
                        f"onnxruntime, and no requirements file to create one was given ({requirements})",
                        "set ML_LAMBDA_EXPORT_PYTHON to such a Python")
    with open(requirements, "rb") as f:
        req = f.read()
    key = hashlib.sha256(req + b"\n" + sys.version.encode()).hexdigest()[:16]
    root = os.path.join(cache, "export-venv")
    venv = os.path.join(root, key)
    python = os.path.join(venv, "bin", "python")
    ready = os.path.join(venv, ".ready")
    if os.path.exists(ready):
        return python
    os.makedirs(root, exist_ok=True)
    import fcntl
    import subprocess

    with open(os.path.join(root, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a concurrent preview waits for the first one's environment
        if os.path.exists(ready):
            return python
        log(f"creating the ONNX export environment in {venv} from {requirements} (torch, transformers, onnx: "
            "once per requirements file; several GB and a few minutes; set ML_LAMBDA_EXPORT_PYTHON to reuse a "
            "Python that has them)")
        tmp = tempfile.mkdtemp(prefix=f".tmp-{key}-", dir=root)
        try:
            steps = [
                [sys.executable, "-m", "venv", tmp],
                [os.path.join(tmp, "bin", "python"), "-m", "pip", "install", "--disable-pip-version-check",
                 "--progress-bar", "off", "-r", requirements],
            ]
            for cmd in steps:
                r = subprocess.run(cmd, stdout=sys.stderr, stderr=sys.stderr)
                if r.returncode != 0:
                    raise UserError("ML_LAMBDA_EXPORT_PYTHON", None,
                                    f"creating the ONNX export environment failed: `{' '.join(cmd[-4:])}` exited "
                                    f"{r.returncode} (output above); nothing was kept",
                                    "fix the cause above and retry, or set ML_LAMBDA_EXPORT_PYTHON to a Python with "
                                    "the packages of python/requirements-export.txt")
            with open(os.path.join(tmp, ".ready"), "w") as f:
                f.write(requirements + "\n")
            os.replace(tmp, venv)  # the venv is only ever run as bin/python, which finds it wherever it lives
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return python


def export_python(args) -> tuple[str, str]:
    chosen = os.environ.get("ML_LAMBDA_EXPORT_PYTHON")
    if chosen:
        return chosen, "ML_LAMBDA_EXPORT_PYTHON"
    return managed_export_python(args.cache, args.export_requirements), "managed"


def prepare_onnx(src: str, rels: list[str], args) -> tuple[str, list[str], dict]:
    """The ONNX artifact's directory and files, exported now or found in the cache."""
    import subprocess

    python, how = export_python(args)
    info = probe_export_python(python, "ML_LAMBDA_EXPORT_PYTHON" if how != "managed" else "export environment")
    with open(os.path.abspath(__file__), "rb") as f:
        script_hash = hashlib.sha256(f.read()).hexdigest()
    key = hashlib.sha256(json.dumps({
        "format": EXPORT_FORMAT,
        "backend": args.backend,
        "opset": ONNX_OPSET,
        "source": file_manifest(src, rels),
        "python": info["python"],
        "packages": info["packages"],
        "script": script_hash,
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
        cmd = [python, os.path.abspath(__file__), "export-onnx", "--source", src, "--out", tmp, "--backend", args.backend]
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


# ---------------------------------------------------------------- onnx backends: export side (export Python)


class ExportError(Exception):
    def __init__(self, error: str, fix: str):
        super().__init__(error)
        self.error, self.fix = error, fix


def _module_kinds(model) -> list[str]:
    return [type(m).__name__ for m in model]


def _pooling_mode(model) -> str:
    pooling = model[1]
    mode = getattr(pooling, "pooling_mode", None)
    if mode is None:  # older sentence-transformers: boolean flags
        flags = {"mean": "pooling_mode_mean_tokens", "cls": "pooling_mode_cls_token", "max": "pooling_mode_max_tokens"}
        on = [k for k, attr in flags.items() if getattr(pooling, attr, False)]
        mode = on[0] if len(on) == 1 else "+".join(on)
    return str(mode)


def _sensitive_matmuls(graph) -> list[str]:
    """The weight MatMuls that stay fp32 in the int8 graph: the feed-forward output projections (their input is a
    GELU's output, the widest range in a BERT layer) and the attention value projections. Measured on
    all-MiniLM-L6-v2 over python/tests/corpus.py (minimum cosine to torch / sentences per second at one thread,
    batch 32, short texts): every weight MatMul int8 0.972 / 1435; all but the feed-forward outputs 0.976 / 948;
    all but those and the value projections 0.984 / 764; fp32 1.000 / 533."""
    producer = {out: node for node in graph.node for out in node.output}
    acts = {"Gelu", "BiasGelu", "FastGelu", "QuickGelu", "Erf", "Tanh", "Relu"}

    def fed_by_activation(name: str, depth: int = 0) -> bool:
        node = producer.get(name)
        if node is None or depth > 3:
            return False
        if node.op_type in acts:
            return True
        return node.op_type in ("Mul", "Add", "Div") and any(fed_by_activation(i, depth + 1) for i in node.input)

    def value_projection(node) -> bool:
        # Named by the exporter after the module path: .../attention/self/value/MatMul (BERT, RoBERTa), .../v/...
        parts = node.name.lower().replace(".", "/").split("/")
        return "value" in parts or ("attention" in parts and "v" in parts) or "v_proj" in parts

    return [n.name for n in graph.node if n.op_type == "MatMul" and (fed_by_activation(n.input[0]) or value_projection(n))]


def export_onnx_main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="prepare_model.py export-onnx")
    ap.add_argument("--source", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--backend", required=True, choices=ONNX_BACKENDS)
    ap.add_argument("--function-src")
    args = ap.parse_args(argv)
    t0 = time.time()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    try:
        parity = _export(args)
    except ExportError as e:
        log(f"error: {e.error}")
        print(json.dumps({"ok": False, "error": e.error, "fix": e.fix}))
        return 2
    print(json.dumps({"ok": True, "parity": parity, "seconds": round(time.time() - t0, 3)}))
    return 0


def _export(args) -> dict:
    import importlib.metadata as metadata
    import warnings

    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    warnings.filterwarnings("ignore")  # the TorchScript exporter's deprecation and tracer warnings
    torch.manual_seed(0)
    src, out = os.path.abspath(args.source), os.path.abspath(args.out)
    try:
        # Eager attention exports plain MatMul/Softmax attention, which onnxruntime runs faster than the graph the
        # SDPA path exports (measured: the same at short texts, ~15 % faster at 128 tokens, batch 32).
        model = SentenceTransformer(src, device="cpu", local_files_only=True, model_kwargs={"attn_implementation": "eager"})
        reference = SentenceTransformer(src, device="cpu", local_files_only=True)
    except Exception as e:
        raise ExportError(f"sentence-transformers cannot load {src}: {type(e).__name__}: {e}",
                          "check that the directory holds a complete sentence-transformers model") from e
    model.eval()
    kinds = _module_kinds(model)
    if kinds[:2] != ["Transformer", "Pooling"] or any(k not in ("Transformer", "Pooling", "Normalize") for k in kinds):
        raise ExportError(f"the model's modules are {' -> '.join(kinds)}; the onnx backends run Transformer -> "
                          "Pooling (-> Normalize) only", "use backend torch for this model")
    pooling = _pooling_mode(model)
    if pooling not in ("mean", "cls"):
        raise ExportError(f"the model pools with {pooling!r}; the onnx backends support mean and cls pooling",
                          "use backend torch for this model")
    transformer = model[0]
    hf = transformer.auto_model
    tokenizer = model.tokenizer
    if not getattr(tokenizer, "is_fast", False):
        raise ExportError("the model has no fast tokenizer (tokenizer.json), which the onnx backends load",
                          "use backend torch for this model")

    sample = tokenizer(["a short sentence", "a second, somewhat longer sentence for tracing"], padding=True,
                       return_tensors="pt")
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]

    class Encoder(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *inputs):
            return self.inner(**dict(zip(names, inputs))).last_hidden_state

    axes = {n: {0: "batch", 1: "sequence"} for n in names}
    axes["last_hidden_state"] = {0: "batch", 1: "sequence"}
    os.makedirs(out, exist_ok=True)
    raw = os.path.join(out, ".model.raw.onnx")
    with torch.no_grad():
        # The TorchScript exporter (dynamo=False): dynamic batch and sequence axes through dynamic_axes, and a
        # graph layout onnxruntime's BERT optimizer knows.
        torch.onnx.export(Encoder(hf).eval(), tuple(sample[n] for n in names), raw, input_names=names,
                          output_names=["last_hidden_state"], dynamic_axes=axes, opset_version=ONNX_OPSET,
                          do_constant_folding=True, dynamo=False)

    import onnx

    # No offline graph optimization: onnxruntime fuses what it can (LayerNorm, GELU, MatMul+bias) at session
    # creation on the CPU it runs on. Measured on all-MiniLM-L6-v2 (one thread, batch 32): the transformer
    # optimizer's fused Attention graph was 10-15 % slower for short texts and no faster for long ones.
    target = os.path.join(out, "model.onnx")
    quantization = None
    if args.backend == "onnx-int8":
        import logging

        from onnxruntime.quantization import QuantType, quantize_dynamic

        # It suggests static-quantization pre-processing on the root logger, which does not apply to dynamic.
        logging.getLogger().setLevel(logging.ERROR)
        keep_fp32 = _sensitive_matmuls(onnx.load(raw, load_external_data=False).graph)
        quantize_dynamic(raw, target, weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul"], nodes_to_exclude=keep_fp32,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT, "MatMulConstBOnly": True})
        quantization = {"method": "dynamic", "weights": "int8 per channel", "activations": "uint8 per tensor",
                        "ops": ["MatMul with constant weights"], "fp32_matmuls": len(keep_fp32)}
    else:
        shutil.copyfile(raw, target)
    os.remove(raw)

    # Everything the backend reads besides the graph: tokenizer, configs, pooling config.
    for r in select_files(src):
        if any(fnmatch.fnmatch(os.path.basename(r), p) for p in WEIGHTS):
            continue
        os.makedirs(os.path.dirname(os.path.join(out, r)) or out, exist_ok=True)
        shutil.copyfile(os.path.join(src, r), os.path.join(out, r))
    if not os.path.exists(os.path.join(out, "tokenizer.json")):
        tokenizer.backend_tokenizer.save(os.path.join(out, "tokenizer.json"))

    versions = {p: metadata.version(p) for p in EXPORT_PACKAGES}
    manifest = {
        "format": EXPORT_FORMAT,
        "backend": args.backend,
        "graph": {"opset": ONNX_OPSET, "exporter": "torch.onnx (TorchScript), eager attention",
                  "inputs": names, "output": "last_hidden_state"},
        "quantization": quantization,
        "pooling": pooling,
        "normalize": "Normalize" in kinds,
        "max_seq_length": int(transformer.max_seq_length),
        "exporter_versions": versions,
    }

    def write_manifest() -> None:
        with open(os.path.join(out, MANIFEST), "w") as f:
            json.dump(manifest, f, indent=2, sort_keys=True)
            f.write("\n")

    write_manifest()
    parity = _parity(reference, out, args, np)
    floor = PARITY_FLOOR[args.backend]
    if parity["cosine_min"] < floor:
        raise ExportError(f"the export's embeddings differ from sentence-transformers': minimum cosine "
                          f"{parity['cosine_min']:.6f} < {floor} on the parity corpus", "use backend torch for this model")
    manifest["parity"] = parity
    write_manifest()
    return parity


def _parity(reference, out: str, args, np) -> dict:
    """The export run by the function's own backend (app/backends/onnx_backend.py) vs sentence-transformers."""
    if not args.function_src:
        raise ExportError("no --function-src: the parity check runs the function's own ONNX backend",
                          "pass --function-src python/src")
    sys.path.insert(0, os.path.abspath(args.function_src))
    from app.backends import load_backend

    backend = load_backend(args.backend, out)
    ours = backend.encode(PARITY_CORPUS)
    theirs = reference.encode(PARITY_CORPUS, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    cos = (ours * theirs).sum(axis=1)
    # Rounded so the manifest (part of the archive) is the same bytes for the same export.
    return {"sentences": len(PARITY_CORPUS), "cosine_min": round(float(cos.min()), 6),
            "cosine_mean": round(float(cos.mean()), 6), "floor": PARITY_FLOOR[args.backend]}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", required=True)
    ap.add_argument("--path")
    ap.add_argument("--name")
    ap.add_argument("--hub-id")
    ap.add_argument("--revision")
    ap.add_argument("--backend", default="torch", choices=("torch",) + ONNX_BACKENDS)
    ap.add_argument("--export-requirements", help="requirements of the export environment (onnx backends)")
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
    if len(sys.argv) > 1 and sys.argv[1] == "export-onnx":
        sys.exit(export_onnx_main(sys.argv[2:]))
    sys.exit(main())
