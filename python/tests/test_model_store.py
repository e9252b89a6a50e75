"""The zip path's model loading against moto in server mode (a real HTTP S3 endpoint on 127.0.0.1)."""
from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import pytest

from app import model_store
from app.config import S3Model, Settings
from app.handler import handle
from app.model_store import COMPLETE_MARKER, ModelStoreError, fetch_model
from app.runtime import ModelRuntime
from conftest import SRC, LambdaContext, body_of, make_archive

TINY = {"config.json": b'{"tiny": true}', "1_Pooling/config.json": b"{}", "weights.bin": os.urandom(4096)}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def put(s3, bucket, key, data) -> S3Model:
    s3.put_object(Bucket=bucket, Key=key, Body=data)
    return S3Model(bucket=bucket, key=key, sha256=sha(data))


def assert_nothing_left(cache: Path, sha256: str) -> None:
    """No final directory and no temporary entries: nothing a later call could mistake for a cached model."""
    entries = sorted(p.name for p in cache.iterdir()) if cache.exists() else []
    assert sha256 not in entries, entries
    assert not [e for e in entries if e.startswith(model_store.PARTIAL_PREFIX)], entries


def member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "", size: int = 3, mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.size = size if kind == tarfile.REGTYPE else 0
    info.mode = mode
    return info


# ---------------------------------------------------------------- success and reuse


def test_real_model_from_s3_loads_and_embeds(s3, bucket, cache_dir, real_model_archive, context):
    source = put(s3, bucket, "models/minilm.tar", real_model_archive)
    env = {"MODEL_BUCKET": bucket, "MODEL_KEY": source.key, "MODEL_SHA256": source.sha256, "MODEL_CACHE_DIR": str(cache_dir)}
    # No client passed: the function's own boto3.client("s3") finds moto through AWS_ENDPOINT_URL_S3.
    rt = ModelRuntime(lambda: Settings.from_env(env))
    assert rt.try_load(), "model from S3 failed to load (see log)"
    res = handle({"texts": ["loaded from S3", "on the zip path"]}, context, rt)
    assert res["statusCode"] == 200, res
    assert body_of(res)["dimension"] == 384
    final = cache_dir / source.sha256
    assert (final / COMPLETE_MARKER).read_text() == source.sha256
    assert (final / "model.safetensors").stat().st_size > 80_000_000
    assert (final / "1_Pooling" / "config.json").is_file()
    assert sorted(p.name for p in cache_dir.iterdir()) == [source.sha256]


def test_complete_model_is_reused_without_downloading(s3, bucket, cache_dir):
    source = put(s3, bucket, "tiny.tar", make_archive(TINY))
    first = fetch_model(source, str(cache_dir), s3)
    marker_mtime = (first / COMPLETE_MARKER).stat().st_mtime_ns
    s3.delete_object(Bucket=bucket, Key=source.key)  # a download would now fail
    again = fetch_model(source, str(cache_dir), s3)
    assert again == first
    assert (again / COMPLETE_MARKER).stat().st_mtime_ns == marker_mtime
    assert (again / "weights.bin").read_bytes() == TINY["weights.bin"]


# ---------------------------------------------------------------- integrity


def test_wrong_checksum_is_refused_and_leaves_nothing(s3, bucket, cache_dir):
    source = put(s3, bucket, "tiny.tar", make_archive(TINY))
    wrong = S3Model(bucket, source.key, sha(b"something else"))
    with pytest.raises(ModelStoreError, match="MODEL_SHA256"):
        fetch_model(wrong, str(cache_dir), s3)
    assert_nothing_left(cache_dir, wrong.sha256)


def test_truncated_object_fails_the_checksum(s3, bucket, cache_dir):
    data = make_archive(TINY)
    s3.put_object(Bucket=bucket, Key="cut.tar", Body=data[: len(data) // 2])
    source = S3Model(bucket, "cut.tar", sha(data))
    with pytest.raises(ModelStoreError, match="truncated, corrupted"):
        fetch_model(source, str(cache_dir), s3)
    assert_nothing_left(cache_dir, source.sha256)


def cut_inside_last_file(data: bytes) -> bytes:
    """An uncompressed tar cut in the middle of its last member's data (cutting only its zero padding loses nothing)."""
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        last = tar.getmembers()[-1]
    return data[: last.offset_data + last.size // 2]


@pytest.mark.parametrize("gz", [False, True], ids=["tar", "tar.gz"])
def test_truncated_archive_with_matching_checksum_fails_extraction(s3, bucket, cache_dir, gz):
    """Even if the producer recorded the sha256 of a broken archive, extraction refuses it cleanly."""
    data = make_archive(TINY, gz=gz)
    cut = data[: len(data) - 100] if gz else cut_inside_last_file(data)
    source = put(s3, bucket, "cut.tar.gz" if gz else "cut.tar", cut)
    with pytest.raises(ModelStoreError, match="corrupt, truncated"):
        fetch_model(source, str(cache_dir), s3)
    assert_nothing_left(cache_dir, source.sha256)


def test_gzipped_archive_of_an_older_deployment_still_loads(s3, bucket, cache_dir):
    """Functions deployed before the archive went uncompressed name a .tar.gz: the same code reads it."""
    source = put(s3, bucket, "models/old.tar.gz", make_archive(TINY, gz=True))
    final = fetch_model(source, str(cache_dir), s3)
    assert (final / "weights.bin").read_bytes() == TINY["weights.bin"]
    assert sorted(p.name for p in cache_dir.iterdir()) == [source.sha256]


def test_missing_object_is_a_clear_error(s3, bucket, cache_dir):
    source = S3Model(bucket, "nope.tar", sha(b"x"))
    with pytest.raises(ModelStoreError, match=f"cannot download s3://{bucket}/nope.tar"):
        fetch_model(source, str(cache_dir), s3)
    assert_nothing_left(cache_dir, source.sha256)


# ---------------------------------------------------------------- hostile archives


@pytest.mark.parametrize(
    "bad,match",
    [
        pytest.param(member("../escaped.txt"), "would leave the model directory", id="dotdot"),
        pytest.param(member("1_Pooling/../../escaped.txt"), "would leave the model directory", id="nested-dotdot"),
        pytest.param(member("/tmp/ml-lambda-absolute-escape.txt"), "absolute path", id="absolute"),
        pytest.param(member("evil-link", tarfile.SYMTYPE, "/etc/passwd"), "is a symlink", id="symlink-absolute"),
        pytest.param(member("evil-link", tarfile.SYMTYPE, "../../../etc/passwd"), "is a symlink", id="symlink-dotdot"),
        pytest.param(member("evil-hardlink", tarfile.LNKTYPE, "/etc/passwd"), "is a hard link", id="hardlink"),
        pytest.param(member("evil-fifo", tarfile.FIFOTYPE), "special file", id="fifo"),
        pytest.param(member("evil-dev", tarfile.CHRTYPE), "special file", id="device"),
    ],
)
def test_unsafe_members_are_refused_and_nothing_escapes(s3, bucket, cache_dir, tmp_path, bad, match):
    source = put(s3, bucket, "evil.tar", make_archive(TINY, extra=[bad]))
    with pytest.raises(ModelStoreError, match=match):
        fetch_model(source, str(cache_dir), s3)
    assert_nothing_left(cache_dir, source.sha256)
    assert not (cache_dir.parent / "escaped.txt").exists()
    assert not (tmp_path / "escaped.txt").exists()
    assert not Path("/tmp/ml-lambda-absolute-escape.txt").exists()


def test_symlink_then_file_through_it_is_refused(s3, bucket, cache_dir, tmp_path):
    """The classic two-step escape: a link to the outside, then a file written through it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    archive = make_archive(TINY, extra=[member("out", tarfile.SYMTYPE, str(outside)), member("out/pwned.txt")])
    source = put(s3, bucket, "evil.tar", archive)
    with pytest.raises(ModelStoreError):
        fetch_model(source, str(cache_dir), s3)
    assert list(outside.iterdir()) == []
    assert_nothing_left(cache_dir, source.sha256)


def test_data_filter_is_applied_to_what_is_extracted(tmp_path):
    """Members our own checks allow still go through tarfile's `data` filter: setuid and group/other write bits
    are dropped (visible proof the filter runs, not just our pre-checks)."""
    archive = tmp_path / "m.tar"
    archive.write_bytes(make_archive(TINY, extra=[member("tool", mode=0o6777)]))
    model_store.extract_archive(archive, tmp_path / "out")
    mode = (tmp_path / "out" / "tool").stat().st_mode & 0o7777
    assert mode & 0o6000 == 0 and mode & 0o022 == 0, oct(mode)


def test_archive_without_files_is_refused(tmp_path):
    archive = tmp_path / "empty.tar"
    archive.write_bytes(make_archive({}, extra=[member("only-a-dir", tarfile.DIRTYPE)]))
    with pytest.raises(ModelStoreError, match="holds no files"):
        model_store.extract_archive(archive, tmp_path / "out")


def test_not_enough_space_says_how_to_fix(tmp_path, monkeypatch):
    archive = tmp_path / "m.tar"
    archive.write_bytes(make_archive(TINY))
    monkeypatch.setattr(model_store.shutil, "disk_usage", lambda p: type("U", (), {"free": 100})())
    with pytest.raises(ModelStoreError, match="ephemeral storage"):
        model_store.extract_archive(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- interruption and leftovers

KILL_MID_DOWNLOAD = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, {src!r})
    import boto3
    from app.config import S3Model
    from app.model_store import fetch_model

    received = 0

    def die(n):
        # Simulates Lambda killing the environment (timeout, out of memory) mid-download: no cleanup runs.
        # Half way, so parts of the object are already on disk.
        global received
        received += n
        if received > {size} // 2:
            os.kill(os.getpid(), signal.SIGKILL)

    client = boto3.client("s3", endpoint_url={endpoint!r})
    fetch_model(S3Model({bucket!r}, {key!r}, {sha!r}), {cache!r}, client, progress=die)
    """
)


def test_download_killed_midway_then_next_call_recovers(s3, bucket, cache_dir, aws_env, real_model_archive, context):
    source = put(s3, bucket, "models/minilm.tar", real_model_archive)
    script = KILL_MID_DOWNLOAD.format(
        src=str(SRC), endpoint=aws_env, bucket=bucket, key=source.key, sha=source.sha256, cache=str(cache_dir),
        size=len(real_model_archive),
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr
    # What the killed process left: temporary entries only, never a final-named directory.
    leftovers = sorted(p.name for p in cache_dir.iterdir())
    assert leftovers and all(n.startswith(model_store.PARTIAL_PREFIX) for n in leftovers), leftovers
    assert sum(p.stat().st_size for p in cache_dir.rglob("*") if p.is_file()) > 0, "nothing was on disk yet"
    assert not (cache_dir / source.sha256).exists()

    # The next init (a fresh runtime in the same /tmp) cleans up and loads.
    env = {"MODEL_BUCKET": bucket, "MODEL_KEY": source.key, "MODEL_SHA256": source.sha256, "MODEL_CACHE_DIR": str(cache_dir)}
    rt = ModelRuntime(lambda: Settings.from_env(env))
    res = handle({"texts": ["recovered"]}, context, rt)
    assert res["statusCode"] == 200, res
    assert sorted(p.name for p in cache_dir.iterdir()) == [source.sha256]


def test_failed_load_is_500_and_a_later_call_recovers(s3, bucket, cache_dir, real_model_archive):
    """Init fails (the object is not uploaded yet); invocations answer 500 with their request id until the
    object appears, then the same execution environment loads it without a restart."""
    data = real_model_archive
    env = {"MODEL_BUCKET": bucket, "MODEL_KEY": "late.tar", "MODEL_SHA256": sha(data), "MODEL_CACHE_DIR": str(cache_dir)}
    rt = ModelRuntime(lambda: Settings.from_env(env))
    assert rt.try_load() is False
    res = handle({"texts": ["too early"]}, LambdaContext("req-early"), rt)
    assert res["statusCode"] == 500
    assert body_of(res)["request_id"] == "req-early"
    assert_nothing_left(cache_dir, sha(data))
    s3.put_object(Bucket=bucket, Key="late.tar", Body=data)
    res = handle({"texts": ["now it works"]}, LambdaContext(), rt)
    assert res["statusCode"] == 200, res


def test_leftover_partial_directories_are_not_mistaken_for_a_model(s3, bucket, cache_dir):
    source = put(s3, bucket, "tiny.tar", make_archive(TINY))
    # What the seed guide's Pattern 3 leaves after a failed download: the final directory, half filled.
    seed_leftover = cache_dir / source.sha256
    seed_leftover.mkdir(parents=True)
    (seed_leftover / "config.json").write_text("{half")
    # And what a killed attempt of ours leaves: a partial archive and a half-extracted staging directory.
    (cache_dir / f"{model_store.PARTIAL_PREFIX}abc-1-deadbeef.archive").write_bytes(b"partial")
    staging = cache_dir / f"{model_store.PARTIAL_PREFIX}abc-1-deadbeef.d"
    staging.mkdir()
    (staging / "weights.bin").write_bytes(b"half")

    final = fetch_model(source, str(cache_dir), s3)
    assert final == seed_leftover
    assert (final / "config.json").read_bytes() == TINY["config.json"]
    assert (final / COMPLETE_MARKER).read_text() == source.sha256
    assert sorted(p.name for p in cache_dir.iterdir()) == [source.sha256]
