"""The Hugging Face Hub, as the model build step uses it (standard library only): the local caches it may read,
one commit's file listing with each LFS file's sha256 (asked once, kept under <cache>/hub-listings/), and all-or-
nothing downloads checked against that listing. No huggingface_hub: the deploy host may not have it."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request

from model_common import UserError, log


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


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def _hub_get(url: str, timeout: float):
    headers = {"User-Agent": "pulumi-ml-lambda"}
    if os.environ.get("HF_TOKEN"):
        headers["Authorization"] = f"Bearer {os.environ['HF_TOKEN']}"
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)


def listing_path(cache: str, repo_id: str, revision: str) -> str:
    return os.path.join(cache, "hub-listings", "models--" + repo_id.replace("/", "--"), revision + ".json")


def cached_listing(cache: str, repo_id: str, revision: str) -> "dict | None":
    try:
        with open(listing_path(cache, repo_id, revision)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def fetch_listing(cache: str, repo_id: str, revision: str, why: str = "the model is not in a local Hugging Face cache") -> dict:
    """The hub's file list of one commit, with each LFS file's sha256 and size (`?blobs=true`, what
    huggingface_hub's HfApi.model_info(files_metadata=True) asks for). A commit never changes, so the answer is
    kept under <cache>/hub-listings/ and asked for once."""
    known = cached_listing(cache, repo_id, revision)
    if known is not None:
        return known
    endpoint = hub_endpoint()
    api = f"{endpoint}/api/models/{repo_id}/revision/{urllib.parse.quote(revision, safe='')}?blobs=true"
    try:
        with _hub_get(api, timeout=20) as r:
            info = json.load(r)
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise UserError(
            "model", f"{repo_id}@{revision}",
            f"{why} and {endpoint} could not be reached ({e})",
            f"run where {endpoint} is reachable, pre-fill the cache with "
            f"`huggingface-cli download {repo_id} --revision {revision}`, or set model.path to a local directory",
        ) from e
    if info.get("sha") not in (None, revision):
        raise UserError("model", f"{repo_id}@{revision}", f"the hub answered for commit {info.get('sha')}, not {revision}",
                        "give the full 40-character commit id as the revision")
    out = listing_path(cache, repo_id, revision)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    tmp = f"{out}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(info, f)
    os.replace(tmp, out)
    return info


def listed_files(listing: dict) -> list[str]:
    return sorted(s["rfilename"] for s in listing.get("siblings", []) if s.get("rfilename"))


def listed_sha256(listing: dict, rfilename: str) -> "str | None":
    """The sha256 the hub lists for a file at the listing's commit: LFS files only (the hub stores other files in
    git, identified by a git blob id, not a sha256). ONNX graphs and weights are always LFS files."""
    for s in listing.get("siblings", []):
        if s.get("rfilename") == rfilename:
            lfs = s.get("lfs") or {}
            sha = lfs.get("sha256") or lfs.get("oid")
            return sha.lower() if isinstance(sha, str) and len(sha) == 64 else None
    return None


def hash_mismatch(what: str, found: str, expected: str, expected_from: str) -> "str | None":
    """None when the hashes agree; else the refusal's text with both hashes."""
    if found.lower() == expected.lower():
        return None
    return f"{what}: sha256 {found} differs from {expected_from} ({expected})"


def download_files(repo_id: str, revision: str, rels: list[str], dest: str, listing: dict) -> None:
    """Download files of one commit into an HF-cache-shaped snapshot directory, all or nothing: every file goes to a
    temporary directory first and is checked against the listing's sha256 (LFS files); only then are they moved
    under `dest` (a new snapshot appears at once, by one rename). A failed or mismatched download keeps nothing."""
    endpoint = hub_endpoint()
    parent = os.path.dirname(dest)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".download-", dir=parent)
    try:
        for i, f in enumerate(rels, 1):
            url = f"{endpoint}/{repo_id}/resolve/{revision}/{urllib.parse.quote(f)}"
            target = os.path.join(tmp, f)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            log(f"downloading {repo_id}@{revision[:12]} [{i}/{len(rels)}] {f}")
            digest = hashlib.sha256()
            try:
                with _hub_get(url, timeout=300) as r, open(target, "wb") as out:
                    for chunk in iter(lambda: r.read(1024 * 1024), b""):
                        digest.update(chunk)
                        out.write(chunk)
            except (urllib.error.URLError, OSError) as e:
                raise UserError(
                    "model", f"{repo_id}@{revision}", f"downloading {f} from {url} failed ({e}); nothing was kept",
                    "retry; for a gated or private model set HF_TOKEN; or set model.path to a local copy",
                ) from e
            expected = listed_sha256(listing, f)
            problem = expected and hash_mismatch(f, digest.hexdigest(), expected, "what the hub lists for that revision")
            if problem:
                raise UserError(
                    "model", f"{repo_id}@{revision}", f"{problem}; nothing was kept",
                    "retry (a proxy or an interrupted transfer can corrupt a download); if it persists, the file "
                    "served is not the one the hub lists: report it to the model's publisher, or set model.path to a "
                    "copy you trust",
                )
        if not os.path.isdir(dest):
            os.replace(tmp, dest)  # a half download is never visible under the snapshot name
            return
        for f in rels:  # an existing (partial) snapshot: add the new files one by one, each complete
            os.makedirs(os.path.dirname(os.path.join(dest, f)), exist_ok=True)
            os.replace(os.path.join(tmp, f), os.path.join(dest, f))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
