#!/usr/bin/env python3
"""Prepare the model artifact for an MlLambda function (build step, run by the component on the deploy host).

Resolves the model (a local directory, or a Hugging Face repository pinned to a commit), keeps only the files
sentence-transformers loads, and writes:
  - a staged copy (plain files, no symlinks) for the image build context, and
  - a deterministic, uncompressed .tar (files at the archive root) whose sha256 names the S3 object (when the model
    does not ship in a layer of its own: the component zips the staged copy for that).
Both are cached under --cache by a hash of the selected files' contents, so an unchanged model costs a hash pass.

For the onnx backends (--backend onnx | onnx-int8) the artifact is not the source directory but an ONNX graph of
the model: model.onnx + the tokenizer and the configs the function reads (app/backends/onnx_backend.py) +
ml_lambda_onnx.json (where the graph came from, and how it was checked). The graph comes from one of two places:

1. The model's own published file, when it has one for the backend and the function's architecture
   (PUBLISHED_ONNX: onnx/model.onnx; for onnx-int8 onnx/model_quint8_avx2.onnx on x86_64,
   onnx/model_qint8_arm64.onnx on arm64). No torch: for a hub model at its pinned revision, only the tokenizer,
   the configs and that file are downloaded (never the torch weights), into <cache>/hub-files/, or found in a
   Hugging Face cache; the file's sha256 must equal the one the hub lists for that revision (the API's
   `?blobs=true` listing, kept under <cache>/hub-listings/), or, offline, the one the Hugging Face cache recorded
   from the hub (its blob name). Then the third program, check_onnx.py, runs the artifact with the function's own
   backend in the "check Python" (--check-python: a small virtualenv the component makes from the function's own
   python/requirements-onnx.txt; onnxruntime, tokenizers, numpy) and, for a model whose reference embeddings ship
   with the package (references/: the default model at its pinned revision, made with sentence-transformers by
   scripts/make-reference-embeddings.py), compares the embeddings: refused below cosine 0.999 (fp32) / 0.98 (int8).
   Other models' published files are checked by hash and by a smoke run, and used with a warning (their parity
   cannot be measured without torch). A local model.path directory's own onnx/ file is taken the same way, without
   a listing to check it against. Cached under <cache>/onnx/<hash of the file, the configs, the backend, the
   reference, the check environment and both programs>.
2. Else an export with torch (or always, with ML_LAMBDA_ONNX_SOURCE=export): model.onnx (fp32, or dynamically
   quantized to int8). The export runs torch, transformers, sentence-transformers, onnx and onnxruntime, which the
   deploy host may not have and the function never ships, in an "export Python":
     - ML_LAMBDA_EXPORT_PYTHON, if set (checked to have those packages; the error lists what is missing), or
     - --export-python: the virtualenv the component creates once under <cache>/export-venv/<hash> from
       python/requirements-export.txt (components/venv.ts, the one venv manager of the build).
   The export itself is the second program, export_onnx.py, run in that Python. It is cached under
   <cache>/onnx/<hash of the source files, the backend, the opset, the export Python's package versions and both
   programs>; every export is checked against sentence-transformers on a fixed corpus with the function's own ONNX
   backend, and refused below cosine 0.999 (fp32) / 0.98 (int8).
A run that needs a Python it was not given (the check Python, or the managed export Python) prints {"need": ...}:
the component creates it and runs this again, so neither is made for a run whose artifact is already cached.

Standard library only: this runs on the deploy host, with whatever python3 it has.
Prints one JSON object on stdout; progress and diagnostics go to stderr.
"""
from __future__ import annotations

import argparse
import fnmatch
import hashlib
import io
import json
import os
import shutil
import sys
import tarfile
import tempfile
import time

from model_common import UserError, log
from model_hub import cached_listing, download_files, fetch_listing, hash_mismatch, hub_cache_dirs, listed_files, listed_sha256, snapshot_dir
# The export program's constants (it imports only the standard library until it runs).
from export_onnx import EXPORT_FORMAT, EXPORT_PACKAGES, MANIFEST, ONNX_BACKENDS, ONNX_OPSET, PARITY_FLOOR

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

def run_child(cmd: list[str]) -> tuple[bool, dict, str]:
    """Runs a helper script (export / check, in its own venv) whose last stdout line starting with { is its JSON
    answer; its stderr passes through. Returns (succeeded, answer, what went wrong)."""
    import subprocess

    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=sys.stderr, text=True)
    lines = [line for line in r.stdout.strip().splitlines() if line.startswith("{")]
    answer = json.loads(lines[-1]) if lines else {}
    ok = r.returncode == 0 and bool(answer.get("ok"))
    return ok, answer, answer.get("error") or f"exit {r.returncode}, see the output above"


def is_model_dir(d: str) -> bool:
    return os.path.isfile(os.path.join(d, "config.json")) or os.path.isfile(os.path.join(d, "modules.json"))


def cached_snapshot(args) -> "tuple[str, str] | None":
    """(cache, snapshot) of the first complete snapshot of the pinned revision in a local Hugging Face cache."""
    for cache in hub_cache_dirs(args.cache):
        d = snapshot_dir(cache, args.hub_id, args.revision)
        if is_model_dir(d):
            return cache, d
    return None


def excluded(rel: str, has_safetensors: bool) -> bool:
    patterns = EXCLUDE + (EXCLUDE_IF_SAFETENSORS if has_safetensors else [])
    base = os.path.basename(rel)
    return any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(base, p) for p in patterns)


def selected(rels: list[str]) -> list[str]:
    """The files sentence-transformers loads, of a model's files (pytorch_model.bin only without safetensors)."""
    has_st = any(r.endswith("model.safetensors") for r in rels)
    return [r for r in rels if not excluded(r, has_st)]


def download_from_hub(repo_id: str, revision: str, dest: str, cache: str) -> None:
    """Download the selected files of one commit (the torch weights included) into a snapshot directory."""
    listing = fetch_listing(cache, repo_id, revision)
    wanted = selected(listed_files(listing))
    if not wanted:
        raise UserError("model", f"{repo_id}@{revision}", "the repository lists no model files at that revision",
                        "check the id and the revision on the Hub")
    download_files(repo_id, revision, wanted, dest, listing)


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
    found = cached_snapshot(args)
    if found:
        log(f"{repo_id}@{revision[:12]} found in {found[0]}")
        return found[1], repo_id.split("/")[-1], "hub-cache"
    dest = snapshot_dir(os.path.join(args.cache, "hub"), repo_id, revision)
    download_from_hub(repo_id, revision, dest, args.cache)
    return dest, repo_id.split("/")[-1], "hub-download"


def select_files(src: str) -> list[str]:
    rels = []
    for root, dirs, files in os.walk(src, followlinks=True):  # HF cache snapshots are symlinks into blobs/
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for f in files:
            rels.append(os.path.relpath(os.path.join(root, f), src))
    return sorted(r for r in selected(rels) if not r.startswith("."))


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
    """Deterministic, uncompressed tar: sorted entries, fixed mtime/owner/modes.

    Not gzipped: model weights are already dense (gzip saves ~8 % on an ONNX file) and the function would pay a
    gunzip at every cold start that fetches it."""
    tmp = out + ".tmp"
    with open(tmp, "wb") as raw:
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
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


def file_manifest(files: "dict[str, str]") -> str:
    """One line per file, in the given order: its name, size and sha256 (what a cache key holds of the files)."""
    return "".join(f"{r}\t{os.path.getsize(p)}\t{sha256_file(p)}\n" for r, p in files.items())


def programs_sha256(*programs: str) -> str:
    """sha256 over the programs whose code decides what an artifact holds (a changed program makes a new key)."""
    h = hashlib.sha256()
    for program in programs:
        with open(program, "rb") as f:
            h.update(f.read())
    return h.hexdigest()


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
    raise NeedPython("export-python")  # the component creates the export environment and runs this again


def prepare_onnx(src: str, rels: list[str], args) -> tuple[str, list[str], dict]:
    """The ONNX artifact's directory and files, exported now or found in the cache."""
    python, how = export_python(args)
    info = probe_export_python(python, "ML_LAMBDA_EXPORT_PYTHON" if how != "managed" else "export environment")
    key = hashlib.sha256(json.dumps({
        "format": EXPORT_FORMAT,
        "backend": args.backend,
        "opset": ONNX_OPSET,
        "source": file_manifest({r: os.path.join(src, r) for r in rels}),
        "python": info["python"],
        "packages": info["packages"],
        "script": programs_sha256(os.path.abspath(__file__), EXPORT_SCRIPT),
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
            if is_weight(r):
                continue
            os.makedirs(os.path.dirname(os.path.join(tmp, r)) or tmp, exist_ok=True)
            shutil.copyfile(os.path.join(src, r), os.path.join(tmp, r))
        cmd = [python, EXPORT_SCRIPT, "--source", src, "--out", tmp, "--backend", args.backend]
        if args.function_src:
            cmd += ["--function-src", args.function_src]
        ok, answer, detail = run_child(cmd)
        if not ok:
            raise UserError("backend", args.backend, f"exporting the model to ONNX failed: {detail}",
                            answer.get("fix") or "use backend torch for this model, or fix the cause above")
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    seconds = round(time.time() - started, 3)
    log(f"ONNX export done in {seconds} s; parity cosine min {answer['parity']['cosine_min']:.6f}")
    return out, select_files(out), {**summary, "cached": False, "parity": answer["parity"], "seconds": seconds}


# ---------------------------------------------------------------- onnx backends: the repository's own ONNX file


class NeedPython(Exception):
    """This run needs a Python the component has not made yet (it makes it, then runs this script again): the
    export environment (torch) only when an export is needed, the check environment only when a published file
    must be checked. Neither is created for a run that finds its artifact in the cache."""

    def __init__(self, which: str):
        super().__init__(which)
        self.which = which


# The published file each onnx backend takes, by the function's architecture. Repositories exported by
# sentence-transformers / optimum publish onnx/model.onnx (fp32) and dynamically quantized variants named after the
# CPU family their quantization suits (optimum's AutoQuantizationConfig presets): model_quint8_avx2 (uint8 weights
# and activations), model_qint8_avx512 / model_qint8_avx512_vnni (int8 weights), model_qint8_arm64 (int8 weights).
#  - x86_64: quint8_avx2. Lambda promises AVX2 on x86_64, not which CPU; on a CPU without VNNI, onnxruntime multiplies
#    uint8 activations by int8 weights with VPMADDUBSW, whose 16-bit intermediate sums can saturate (onnxruntime's
#    and optimum's quantization notes), while uint8 x uint8 does not: the avx2 file is right on every x86-64 host.
#  - arm64 (Graviton): qint8_arm64, quantized for ARM64's integer dot products (uint8 x int8 does not saturate there).
PUBLISHED_ONNX = {
    ("onnx", "x86_64"): "onnx/model.onnx",
    ("onnx", "arm64"): "onnx/model.onnx",
    ("onnx-int8", "x86_64"): "onnx/model_quint8_avx2.onnx",
    ("onnx-int8", "arm64"): "onnx/model_qint8_arm64.onnx",
}
ARCHITECTURES = ("x86_64", "arm64")
# "auto" (default): a published ONNX file when the model has one for the backend, else the torch export.
# "export": always the torch export (parity measured against sentence-transformers itself).
ONNX_SOURCE_ENV = "ML_LAMBDA_ONNX_SOURCE"
ONNX_SOURCES = ("auto", "export")
CHECK_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "check_onnx.py")
DEFAULT_REFERENCE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "references")
# Bump when the layout of an artifact made from a published file changes.
PUBLISHED_FORMAT = "1"
_HEX64 = frozenset("0123456789abcdef")


def published_onnx_name(backend: str, architecture: str) -> str:
    return PUBLISHED_ONNX[(backend, architecture)]


def onnx_source_mode(env=os.environ) -> str:
    mode = (env.get(ONNX_SOURCE_ENV) or "auto").strip()
    if mode not in ONNX_SOURCES:
        raise UserError(ONNX_SOURCE_ENV, mode, f"must be one of {', '.join(ONNX_SOURCES)}",
                        "unset it (a published ONNX file when the model has one), or set export to export with torch")
    return mode


def is_weight(rel: str) -> bool:
    return any(fnmatch.fnmatch(os.path.basename(rel), p) for p in WEIGHTS)


def blob_sha256(path: str) -> "str | None":
    """The sha256 a Hugging Face cache records for a file: huggingface_hub stores each file under blobs/<ETag> and
    links the snapshot to it; for an LFS file (every ONNX graph) the ETag is the file's sha256 as the hub listed it
    when it was downloaded. None for a plain file or a non-LFS blob (a 40-hex git blob id)."""
    if not os.path.islink(path):
        return None
    name = os.path.basename(os.path.realpath(path))
    return name if len(name) == 64 and set(name) <= _HEX64 else None


def find_reference(repo_id: str, revision: str, directory: str = DEFAULT_REFERENCE_DIR) -> "str | None":
    """The reference embeddings shipped for this exact model and revision, if any."""
    try:
        names = sorted(n for n in os.listdir(directory) if n.endswith(".json"))
    except OSError:
        return None
    for n in names:
        path = os.path.join(directory, n)
        try:
            with open(path, encoding="utf-8") as f:
                model = json.load(f).get("model", {})
        except (OSError, ValueError):
            continue
        if model.get("id") == repo_id and model.get("revision") == revision:
            return path
    return None


def parity_refusal(parity: dict, floor: float) -> "str | None":
    """None when the measured parity meets the floor; else the refusal's text with both numbers."""
    if parity["cosine_min"] >= floor:
        return None
    return (f"minimum cosine {parity['cosine_min']:.6f} to the reference embeddings is below the floor {floor} "
            f"(mean {parity['cosine_mean']:.6f} over {parity['sentences']} texts; worst: {parity.get('worst_text', '?')!r})")


def locate_published_hub(args) -> "dict | None":
    """The repository's own ONNX file for this backend and architecture at the pinned revision, with the other files
    the onnx backend reads (tokenizer, configs; never the torch weights), from a local Hugging Face cache or
    downloaded; its sha256 checked against what the hub lists for that revision. None when the repository
    publishes no such file (the caller exports with torch)."""
    repo_id, revision = args.hub_id, args.revision
    label = f"{repo_id}@{revision}"
    name = published_onnx_name(args.backend, args.architecture)
    found = cached_snapshot(args)
    full = found[1] if found else None  # a complete snapshot (the HF client's, or our torch path's)
    # Files this path downloads go to a snapshot of their own: it has no torch weights, so the torch path (which
    # trusts any snapshot with a config.json) must never find it.
    partial = snapshot_dir(os.path.join(args.cache, "hub-files"), repo_id, revision)

    def locate(rel: str) -> "str | None":
        return next((os.path.join(d, rel) for d in (full, partial) if d and os.path.isfile(os.path.join(d, rel))), None)

    listing = cached_listing(args.cache, repo_id, revision)
    onnx = locate(name)
    if onnx is None and listing is None:
        try:
            listing = fetch_listing(args.cache, repo_id, revision)
        except UserError as e:
            if full is None:
                raise
            log(f"{label}: {name} is not in the local cache, and whether the repository publishes it cannot be asked "
                f"({e.limit}); exporting the model to ONNX with torch instead")
            return None
    if onnx is None and name not in listed_files(listing):
        log(f"{label} publishes no {name}: exporting the model to ONNX with torch")
        return None
    if full is not None:
        rels = [r for r in select_files(full) if not is_weight(r)]
    else:
        listing = listing or fetch_listing(args.cache, repo_id, revision)
        rels = [f for f in selected(listed_files(listing)) if not is_weight(f)]
    missing = [r for r in rels if locate(r) is None] + ([name] if onnx is None else [])
    if missing:
        listing = listing or fetch_listing(args.cache, repo_id, revision)
        download_files(repo_id, revision, missing, partial, listing)
        onnx = locate(name)

    expected, expected_from = None, None
    if listing is not None:
        expected, expected_from = listed_sha256(listing, name), "what the hub lists for that revision"
    if expected is None:
        expected = blob_sha256(onnx)
        expected_from = "the sha256 the Hugging Face cache recorded from the hub (its blob name)"
    if expected is None:
        listing = fetch_listing(args.cache, repo_id, revision, why=f"{onnx} is a plain file, not a Hugging Face cache blob "
                                "named by its sha256, so only the hub's listing can verify it,")
        expected, expected_from = listed_sha256(listing, name), "what the hub lists for that revision"
        if expected is None:
            raise UserError("model", label, f"the hub lists no sha256 for {name} (not an LFS file), so it cannot be verified",
                            f"set {ONNX_SOURCE_ENV}=export to export the model with torch instead")
    found = sha256_file(onnx)
    problem = hash_mismatch(f"{name} ({onnx})", found, expected, expected_from)
    if problem:
        raise UserError("model", label, f"{problem}: refused",
                        f"delete that file (and its blob) so it is downloaded again; if the hub serves the same bytes, "
                        f"the file is not the one the hub lists: report it to the model's publisher, or set "
                        f"{ONNX_SOURCE_ENV}=export to export the model from its weights with torch")
    log(f"{label}: {name} sha256 {found[:16]}... matches {expected_from}")
    return {
        "label": label, "name": repo_id.split("/")[-1], "source": "hub-download" if missing else "hub-cache",
        "source_dir": full or partial, "rfilename": name, "onnx": onnx, "sha256": found,
        "expected_sha256": expected, "expected_from": expected_from,
        "files": {r: locate(r) for r in rels}, "reference": find_reference(repo_id, revision),
    }


def locate_published_local(src: str, display_name: str, args) -> "dict | None":
    """A local model directory's own ONNX file (same names as on the hub). No listing to check it against: it is
    the user's file; its sha256 is recorded in the artifact's manifest."""
    name = published_onnx_name(args.backend, args.architecture)
    onnx = os.path.join(src, name)
    if not os.path.isfile(onnx):
        log(f"model.path has no {name}: exporting the model to ONNX with torch")
        return None
    return {
        "label": src, "name": display_name, "source": "path", "source_dir": src, "rfilename": name, "onnx": onnx,
        "sha256": sha256_file(onnx), "expected_sha256": None, "expected_from": None,
        "files": {r: os.path.join(src, r) for r in select_files(src) if not is_weight(r)}, "reference": None,
    }


def prepare_published(pub: dict, args) -> tuple[str, list[str], dict]:
    """The artifact made from a published ONNX file: its tokenizer and configs + the file as model.onnx + a manifest,
    checked by the function's own backend in the check Python (components/model/check_onnx.py), cached by content."""
    floor = PARITY_FLOOR[args.backend]
    # What the manifest (part of the archive) calls the model: never a local path, so the bytes do not depend on it.
    shown = pub["label"] if pub["source"] != "path" else "model.path"
    rels = sorted(pub["files"])
    manifest_text = file_manifest({r: pub["files"][r] for r in rels})
    reference_sha = sha256_file(pub["reference"]) if pub["reference"] else None
    key = hashlib.sha256(json.dumps({
        "format": PUBLISHED_FORMAT, "backend": args.backend, "file": pub["rfilename"], "sha256": pub["sha256"],
        "files": manifest_text, "reference": reference_sha, "check": args.check_key, "scripts": programs_sha256(os.path.abspath(__file__), CHECK_SCRIPT),
    }, sort_keys=True).encode()).hexdigest()
    root = os.path.join(args.cache, "onnx")
    out = os.path.join(root, key)
    summary = {"file": pub["rfilename"], "sha256": pub["sha256"], "expectedSha256": pub["expected_sha256"],
               "expectedFrom": pub["expected_from"], "key": key, "floor": floor,
               "reference": os.path.basename(pub["reference"]) if pub["reference"] else None}
    if os.path.isfile(os.path.join(out, MANIFEST)):
        with open(os.path.join(out, MANIFEST)) as f:
            manifest = json.load(f)
        return out, select_files(out), {**summary, "cached": True, "parity": manifest.get("parity"),
                                        "warnings": manifest.get("warnings", []), "seconds": 0.0}
    if not args.check_python:
        raise NeedPython("check-python")
    os.makedirs(root, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".published-", dir=root)
    started = time.time()
    try:
        for r in rels:
            os.makedirs(os.path.dirname(os.path.join(tmp, r)) or tmp, exist_ok=True)
            shutil.copyfile(pub["files"][r], os.path.join(tmp, r))
        log(f"checking {pub['rfilename']} ({os.path.getsize(pub['onnx']) / 1e6:.1f} MB) with the function's {args.backend} "
            f"backend in {args.check_python}" + (" against the shipped reference embeddings" if pub["reference"] else ""))
        shutil.copyfile(pub["onnx"], os.path.join(tmp, "model.onnx"))
        manifest = {
            "format": PUBLISHED_FORMAT,
            "backend": args.backend,
            "source": {"kind": "published", "model": shown,
                       "file": pub["rfilename"], "sha256": pub["sha256"], "expected_sha256": pub["expected_sha256"],
                       "expected_from": pub["expected_from"]},
        }

        def write_manifest() -> None:
            with open(os.path.join(tmp, MANIFEST), "w") as f:
                json.dump(manifest, f, indent=2, sort_keys=True)
                f.write("\n")

        write_manifest()  # the backend reads which variant it is before it loads
        cmd = [args.check_python, CHECK_SCRIPT, "--model-dir", tmp, "--backend", args.backend, "--function-src", args.function_src]
        if pub["reference"]:
            cmd += ["--reference", pub["reference"]]
        ok, answer, detail = run_child(cmd)
        if not ok:
            raise UserError("backend", args.backend, f"{pub['rfilename']} of {pub['label']}: {detail}",
                            (answer.get("fix") or "fix the cause above") + f", or set {ONNX_SOURCE_ENV}=export to export the model with torch")
        parity = answer.get("parity")
        warnings = []
        if parity is not None:
            parity = {**parity, "floor": floor, "reference": os.path.basename(pub["reference"])}
            refusal = parity_refusal(parity, floor)
            if refusal:
                raise UserError(
                    "backend", args.backend,
                    f"{pub['rfilename']} of {pub['label']} (sha256 {pub['sha256'][:16]}...): {refusal}; nothing was kept",
                    ("use backend onnx (fp32)" if args.backend == "onnx-int8" else "use backend torch")
                    + f", or set {ONNX_SOURCE_ENV}=export to export the model from its weights with torch "
                    "(its own parity check runs against sentence-transformers)")
        else:
            warnings.append(
                f"{pub['rfilename']} of {shown} is used as published"
                + (f" (sha256 matches {pub['expected_from']})" if pub["expected_sha256"] else " (a local file: no hub listing to check it against)")
                + " and the function's backend runs it, but its embeddings were not compared with sentence-transformers': "
                f"the package ships reference embeddings for the default model only. Set {ONNX_SOURCE_ENV}=export to "
                "export the model with torch and measure parity instead.")
            log(f"warning: {warnings[-1]}")
        manifest.update({"graph": answer["graph"], "dimension": answer["dimension"], "parity": parity,
                         "checked_with": answer["versions"], "warnings": warnings})
        write_manifest()
        if os.path.isdir(out):  # a concurrent run made it first: same inputs, same content
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    seconds = round(time.time() - started, 3)
    if parity is not None:
        log(f"{pub['rfilename']} accepted in {seconds} s: minimum cosine {parity['cosine_min']:.6f} to the reference (floor {floor})")
    return out, select_files(out), {**summary, "cached": False, "parity": parity, "warnings": warnings, "seconds": seconds}


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
    ap.add_argument("--architecture", default="x86_64", choices=ARCHITECTURES, help="the function's (picks the published int8 file)")
    ap.add_argument("--check-python", help="the check environment's python (onnxruntime, tokenizers, numpy), once it exists")
    ap.add_argument("--check-key", default="", help="what the check environment is made of (keys cached checks)")
    args = ap.parse_args()
    t0 = time.time()
    global _MEMO
    _MEMO = Memo(args.cache)
    try:
        # onnx backends: the model's own published ONNX file when it has one (no torch), else the torch export.
        published = pub = None
        want_published = args.backend in ONNX_BACKENDS and onnx_source_mode() == "auto"
        if args.hub_id and want_published:
            pub = locate_published_hub(args)
        if pub is not None:
            name, found, source_dir = pub["name"], pub["source"], pub["source_dir"]
        else:
            src, name, found = resolve_source(args)
            source_dir = src
            if args.path and want_published:
                pub = locate_published_local(src, name, args)
        export = None
        if pub is not None:
            src, rels, published = prepare_published(pub, args)
        else:
            rels = select_files(src)
            if not rels:
                raise UserError("model", src, "no model files left after filtering", "check the model directory")
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
        archive = base + ".tar"
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
            "published": published,
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
    except NeedPython as e:  # not an error: the component makes that Python and runs this again
        print(json.dumps({"need": e.which}))
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
