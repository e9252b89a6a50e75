#!/usr/bin/env python3
"""Prepare the model artifact for an MlLambda function (build step, run by the component on the deploy host).

Resolves the model (a local directory, or a Hugging Face repository pinned to a commit), keeps only the files
sentence-transformers loads, and writes:
  - a staged copy (plain files, no symlinks) for the image build context, and
  - a deterministic .tar.gz (files at the archive root) whose sha256 names the S3 object.
Both are cached under --cache by a hash of the selected files' contents, so an unchanged model costs a hash pass.

Standard library only: this runs on the deploy host before any virtualenv exists.
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


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1024 * 1024), b""):
            h.update(chunk)
    return h.hexdigest()


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


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", required=True)
    ap.add_argument("--path")
    ap.add_argument("--name")
    ap.add_argument("--hub-id")
    ap.add_argument("--revision")
    args = ap.parse_args()
    t0 = time.time()
    try:
        src, name, found = resolve_source(args)
        rels = select_files(src)
        if not rels:
            raise UserError("model", src, "no model files left after filtering", "check the model directory")
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
            "sourceDir": src,
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


if __name__ == "__main__":
    sys.exit(main())
