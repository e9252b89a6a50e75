"""Where the model comes from: a directory shipped with the function (baked into the image, or the zip path's model
layer at /opt/ml/model: MODEL_DIR), or an archive in S3 unpacked once into /tmp (when the model does not fit in a
layer beside the code and dependencies; an uncompressed .tar, or a .tar.gz from older deployments).

The S3 path never leaves something a later call could mistake for a cached model (the seed guide's Pattern 3
creates the directory first, so a failed download looks "cached" forever):
  1. download to a temporary name (.partial-*) in the cache directory: parallel ranged GETs written at their
     offsets, hashed in order as they land (the hash is done when the download is, not a second pass over the file);
  2. verify its sha256 against MODEL_SHA256 before reading a byte of it as an archive;
  3. check every member (regular files and directories only, relative paths, no "..") and extract with
     tarfile's `data` filter into another temporary directory;
  4. write a completion marker, then rename the directory to its final, content-addressed name (atomic on one
     file system).
A complete directory is reused as is (a re-init in the same environment downloads nothing); leftovers of an
interrupted attempt (.partial-* entries, or a final-named directory without the marker) are removed first.
Interruptions are routine, not exotic: Lambda stops an on-demand Init that runs past 10 seconds (importing torch
plus a large download can) and runs it again inside the first invocation, and a timeout or out-of-memory kill
ends a process mid-write; /tmp survives all of them.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Callable, Optional

from app.log import logger

from app.config import S3Model


COMPLETE_MARKER = ".ml-lambda-complete"
PARTIAL_PREFIX = ".partial-"
# Log download progress this often: a multi-GB model can take a while, and a silent init looks hung.
PROGRESS_EVERY_BYTES = 64 * 1024 * 1024
# Ranged GETs: S3 serves each connection at a bounded rate, so a large object comes faster over several; the parts
# are written at their offsets and hashed in order. 8 MiB parts over 8 connections is what s3transfer (boto3's
# download_file) uses by default, minus two connections.
PART_BYTES = 8 * 1024 * 1024
MAX_CONNECTIONS = 8
READ_BYTES = 1024 * 1024


class ModelStoreError(Exception):
    """The model cannot be made available: bad archive, checksum mismatch, S3 error, no space."""


def local_model_dir(path: str) -> Path:
    model_dir = Path(path)
    if not model_dir.is_dir():
        raise ModelStoreError(
            f"MODEL_DIR={path} is not a directory; the image must COPY the model there, or the model layer must be "
            "attached (zip path: it unpacks at /opt/ml/model)"
        )
    return model_dir


def fetch_model(
    source: S3Model,
    cache_dir: str,
    s3_client=None,
    progress: Optional[Callable[[int], None]] = None,
) -> Path:
    """Return a directory holding the unpacked model archive `source`, downloading it only if needed.

    `progress` is called with the byte count of each received chunk (boto3's transfer callback).
    """
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    final = cache / source.sha256
    if is_complete(final, source.sha256):
        logger.info("model archive already unpacked", extra={"model_path": str(final)})
        return final

    remove_leftovers(cache, source.sha256)
    token = f"{PARTIAL_PREFIX}{source.sha256[:16]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    archive = cache / f"{token}.archive"  # .tar or .tar.gz: extract_archive reads the compression from the bytes
    staging = cache / f"{token}.d"
    try:
        size, digest = _download(source, archive, s3_client, progress)
        if digest != source.sha256:
            raise ModelStoreError(
                f"s3://{source.bucket}/{source.key}: sha256 of the {size:,} downloaded bytes is {digest}, but "
                f"MODEL_SHA256 is {source.sha256}: the object is truncated, corrupted or not the archive this "
                "function was deployed with; redeploy so the object and MODEL_SHA256 match"
            )
        extract_archive(archive, staging)
        (staging / COMPLETE_MARKER).write_text(source.sha256)
        try:
            os.rename(staging, final)
        except OSError:
            # Another process in the same /tmp finished first; its directory is as good as ours.
            if not is_complete(final, source.sha256):
                raise
        logger.info("model archive unpacked", extra={"model_path": str(final), "archive_bytes": size})
        return final
    finally:
        archive.unlink(missing_ok=True)
        shutil.rmtree(staging, ignore_errors=True)


def is_complete(path: Path, sha256: str) -> bool:
    marker = path / COMPLETE_MARKER
    try:
        return path.is_dir() and marker.read_text().strip() == sha256
    except OSError:
        return False


def remove_leftovers(cache: Path, sha256: str) -> None:
    """Delete what an interrupted attempt (a crash, a timeout, a killed init) may have left behind."""
    for entry in cache.iterdir():
        # One invocation at a time runs in a Lambda execution environment, so no other attempt is in flight.
        if entry.name.startswith(PARTIAL_PREFIX):
            _remove(entry)
    final = cache / sha256
    if final.exists() and not is_complete(final, sha256):
        logger.warning("removing an incomplete model directory", extra={"model_path": str(final)})
        _remove(final)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _download(source: S3Model, dest: Path, s3_client, progress: Optional[Callable[[int], None]]) -> tuple:
    """Downloads the object to `dest` and returns (size, sha256 hex), hashing the parts in order as they land."""
    if s3_client is None:
        # boto3 is imported only on the zip path: the image path never pays for it (the runtime ships it).
        import boto3

        s3_client = boto3.client("s3")
    from botocore.exceptions import BotoCoreError, ClientError

    started = time.perf_counter()
    lock = threading.Lock()
    received = 0
    next_log = PROGRESS_EVERY_BYTES

    def on_chunk(n: int) -> None:
        nonlocal received, next_log
        with lock:
            received += n
            log_now = received >= next_log
            if log_now:
                next_log += PROGRESS_EVERY_BYTES
        if log_now:
            logger.info("downloading model archive", extra={"bytes_received": received})
        if progress is not None:
            progress(n)

    logger.info("downloading model archive", extra={"bucket": source.bucket, "key": source.key})
    digest = hashlib.sha256()
    fd = os.open(dest, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        try:
            size = int(s3_client.head_object(Bucket=source.bucket, Key=source.key)["ContentLength"])
            parts = [(offset, min(PART_BYTES, size - offset)) for offset in range(0, size, PART_BYTES)]

            def fetch(part) -> int:
                offset, length = part
                body = s3_client.get_object(Bucket=source.bucket, Key=source.key, Range=f"bytes={offset}-{offset + length - 1}")["Body"]
                at = offset
                for chunk in body.iter_chunks(READ_BYTES):
                    os.pwrite(fd, chunk, at)
                    at += len(chunk)
                    on_chunk(len(chunk))
                if at - offset != length:
                    raise ModelStoreError(
                        f"s3://{source.bucket}/{source.key}: bytes {offset}-{offset + length - 1} came back as {at - offset} bytes"
                    )
                return length

            with ThreadPoolExecutor(max_workers=max(1, min(MAX_CONNECTIONS, len(parts)))) as pool:
                futures = [pool.submit(fetch, part) for part in parts]
                try:
                    # In order: part i is hashed (read back from the page cache) while later parts still download.
                    for (offset, length), future in zip(parts, futures):
                        future.result()
                        for at in range(offset, offset + length, READ_BYTES):
                            digest.update(os.pread(fd, min(READ_BYTES, offset + length - at), at))
                except BaseException:
                    for f in futures:
                        f.cancel()
                    raise
        except (BotoCoreError, ClientError) as e:
            raise ModelStoreError(f"cannot download s3://{source.bucket}/{source.key}: {e}") from e
    finally:
        os.close(fd)
    seconds = time.perf_counter() - started
    logger.info(
        "model archive downloaded",
        extra={"archive_bytes": size, "download_ms": round(seconds * 1000), "mb_per_s": round(size / 1e6 / max(seconds, 1e-6), 1),
               "parts": len(parts)},
    )
    return size, digest.hexdigest()


def extract_archive(archive: Path, dest: Path) -> None:
    """Extract a model archive into `dest` (which must not exist), refusing anything but a plain tree.

    An uncompressed .tar and a .tar.gz are both accepted ("r:*" reads the compression from the bytes): model weights
    are already dense (gzip saves ~8 % on an ONNX file), so an uncompressed archive trades a little more download for
    no gunzip at every cold start."""
    if not hasattr(tarfile, "data_filter"):
        # Extraction filters arrived in 3.12 and were backported to 3.11.4; without them we cannot extract safely.
        raise ModelStoreError("this Python has no tarfile extraction filters (needs 3.11.4+); refusing to extract")
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            total = _check_members(members)
            _check_space(dest.parent, total)
            dest.mkdir()
            # Defence in depth: the `data` filter re-checks paths and links and drops unsafe modes.
            tar.extractall(dest, members=members, filter="data")
    except ModelStoreError:
        raise
    except (tarfile.TarError, EOFError, OSError, ValueError) as e:
        # zlib errors surface as OSError / EOFError, filter refusals as tarfile.FilterError (a TarError).
        raise ModelStoreError(f"model archive is corrupt, truncated or unsafe: {e}") from e


def _check_members(members) -> int:
    if not any(m.isfile() for m in members):
        raise ModelStoreError("model archive holds no files")
    total = 0
    for m in members:
        name = m.name
        if not (m.isfile() or m.isdir()):
            kind = "symlink" if m.issym() else "hard link" if m.islnk() else "special file"
            raise ModelStoreError(f"model archive member {name!r} is a {kind}; only regular files and directories are allowed")
        path = PurePosixPath(name)
        if path.is_absolute() or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
            raise ModelStoreError(f"model archive member {name!r} has an absolute path")
        if ".." in path.parts or "\\" in name:
            raise ModelStoreError(f"model archive member {name!r} would leave the model directory")
        total += m.size
    return total


def _check_space(directory: Path, needed: int) -> None:
    free = shutil.disk_usage(directory).free
    if needed > free:
        raise ModelStoreError(
            f"unpacking the model needs {needed:,} bytes but {directory} has {free:,} free; raise the function's "
            "ephemeral storage (/tmp) size"
        )
