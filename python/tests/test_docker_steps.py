"""python/Dockerfile, tested without Docker: its RUN steps run against a temporary root (tests/imagebuild.py), then
the handler runs from that root the way the image would at run time: as a non-root user, with no network but
loopback, with the code and the model on read-only mounts, with only the root's own packages importable.

The sandbox uses Linux namespaces (`unshare --net --mount`), which work for root on this project's machines;
the model and task root are read-only bind mounts (EROFS even for root), and the process then drops to `nobody`.
"""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import imagebuild
from conftest import REPO

HERE = Path(__file__).resolve().parent
DOCKER_DIR = REPO / "python" / "docker"
NOBODY = 65534
# Tests cannot reach download.pytorch.org; plain PyPI serves the same torch release (as a CUDA build).
TEST_BUILD_ARGS = {"TORCH_INDEX_URL": "https://pypi.org/simple"}


def say_fn(request):
    capture = request.config.pluginmanager.getplugin("capturemanager")

    def say(line: str) -> None:
        # Progress on the terminal even though pytest captures output: the first run installs several GB.
        with capture.global_and_fixture_disabled():
            print(f"\n[docker-steps] {line}", file=sys.stderr, flush=True)

    return say


@pytest.fixture(scope="module")
def image(request, model_dir):
    workdir = Path(tempfile.mkdtemp(prefix="ml-lambda-image-", dir="/tmp"))
    # `nobody` must be able to reach the root; mkdtemp makes it 0700.
    os.chmod(workdir, 0o755)
    try:
        context = imagebuild.stage_context(workdir / "context", model_dir)
        root = workdir / "root"
        root.mkdir()
        os.chmod(root, 0o755)
        python = imagebuild.find_image_python()
        build = imagebuild.Build(root=root, context=context, python=python, build_args=TEST_BUILD_ARGS, say=say_fn(request))
        build.run()
        yield build
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# ---------------------------------------------------------------- the Dockerfile itself


def test_dockerfile_shape():
    steps = imagebuild.instructions(imagebuild.DOCKERFILE.read_text())
    kinds = [k for k, _ in steps]
    assert steps[0] == ("ARG", "PYTHON_VERSION=3.12")
    assert ("FROM", "public.ecr.aws/lambda/python:${PYTHON_VERSION}") in steps
    assert ("ARG", "TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu") in steps
    env = {}
    for k, rest in steps:
        if k == "ENV":
            env.update(imagebuild.parse_env(rest))
    assert env["MODEL_DIR"] == "/opt/ml/model"
    assert env["HF_HUB_OFFLINE"] == "1"
    assert env["HF_HOME"].startswith("/tmp/")
    assert ("COPY", "model/ ${MODEL_DIR}/") in steps
    assert steps[-1] == ("CMD", '["app.handler.lambda_handler"]')
    # The model is copied, not downloaded: the seed guide's SentenceTransformer('...') at build time is the
    # pitfall this guards against.
    runs = [rest for k, rest in steps if k == "RUN"]
    for rest in runs:
        for forbidden in ("SentenceTransformer(", "snapshot_download", "huggingface-cli", "hf download", "curl ", "wget "):
            assert forbidden not in rest, rest
        # Paths only through variables, so the test can run the same line against a temporary root.
        words = [w for w in rest.split() if w.startswith("/")]
        assert not words, f"literal absolute path in RUN: {rest}"
        script = rest.split("/docker/")[1].split()[0]
        assert (DOCKER_DIR / script).is_file(), script
    assert kinds.count("RUN") == 4


def test_dockerignore_excludes_bytecode_and_hub_metadata():
    lines = (REPO / "python" / ".dockerignore").read_text().splitlines()
    for pattern in ("**/__pycache__", "**/*.pyc", "model/.cache"):
        assert pattern in lines


# ---------------------------------------------------------------- the steps, run


def test_build_steps_produce_the_image_layout(image):
    root = image.root
    assert image.base_image == "public.ecr.aws/lambda/python:3.12"
    assert image.cmd == ["app.handler.lambda_handler"]
    task = root / "var" / "task"
    assert (task / "app" / "handler.py").is_file()
    assert (task / "torch" / "__init__.py").is_file()
    assert (task / "sentence_transformers").is_dir() and (task / "sklearn").is_dir()
    # Byte-compiled sources, hash-based and unchecked (flags == 1), for a read-only file system.
    version = imagebuild.python_version(image.python).replace(".", "")
    for module in ("handler", "request", "runtime", "model_store"):
        pyc = task / "app" / "__pycache__" / f"{module}.cpython-{version}.pyc"
        assert pyc.is_file(), pyc
        assert int.from_bytes(pyc.read_bytes()[4:8], "little") == 1, pyc
    # The model sits at the fixed path, readable and not writable by anyone.
    model = root / "opt" / "ml" / "model"
    assert (model / "config.json").is_file() and (model / "model.safetensors").is_file()
    for p in [model, *model.rglob("*")]:
        mode = stat.S_IMODE(p.stat().st_mode)
        assert mode == (0o555 if p.is_dir() else 0o444), (p, oct(mode))
    # The build-time smoke step ran and loaded the model.
    smoke = json.loads(image.last_output.strip().splitlines()[-1])
    assert smoke["smoke"] == "ok" and smoke["dimension"] == 384


def sandbox_available() -> str | None:
    if os.geteuid() != 0:
        return "needs root for unshare --mount"
    probe = subprocess.run(["unshare", "--net", "--mount", "true"], capture_output=True, text=True)
    return None if probe.returncode == 0 else f"unshare failed: {probe.stderr.strip()}"


def test_image_loads_its_model_offline_read_only_as_non_root(image):
    problem = sandbox_available()
    assert problem is None, f"cannot build the run-time sandbox: {problem}"
    root = image.root
    host_values = image.host_values()
    lang = root / "var" / "lang"
    lang.mkdir(parents=True, exist_ok=True)
    prefix = imagebuild.python_prefix(image.python)
    python = lang / "bin" / image.python.name
    ro = [root / "var" / "task", root / "opt" / "ml" / "model"]
    mounts = " && ".join(
        [f"mount --bind {prefix} {lang}", f"mount -o remount,bind,ro {lang}"]
        + [f"mount --bind {d} {d} && mount -o remount,bind,ro {d}" for d in ro]
    )
    env = {
        "PATH": f"{lang}/bin:/usr/bin:/bin",
        # As in the Lambda base image: the runtime's libraries, then the task root.
        "LD_LIBRARY_PATH": f"{lang}/lib",
        "HOME": "/nonexistent",
        "LANG": "C.UTF-8",
        **{k: host_values[k] for k in ("LAMBDA_TASK_ROOT", "MODEL_DIR", "HF_HUB_OFFLINE", "HF_HOME", "HF_HUB_DISABLE_PROGRESS_BARS")},
    }
    env_args = " ".join(f"{k}={v}" for k, v in env.items())
    smoke = Path(host_values["ML_LAMBDA_BUILD"]) / "docker" / "smoke.py"
    shutil.copy(HERE / "sandbox_check.py", root / "sandbox_check.py")
    inner = (
        f"{mounts} && exec setpriv --reuid={NOBODY} --regid={NOBODY} --clear-groups -- "
        f"env -i {env_args} {python} -S -s {root / 'sandbox_check.py'} {smoke} {host_values['LAMBDA_TASK_ROOT']}"
    )
    proc = subprocess.run(
        ["unshare", "--net", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", inner],
        capture_output=True, text=True, timeout=600,
    )
    lines = [l for l in proc.stdout.splitlines() if l.startswith('{"sandbox"') or l.startswith('{"smoke"')]
    assert proc.returncode == 0 and len(lines) == 2, f"exit {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    facts = json.loads(lines[0])["sandbox"]
    smoke_result = json.loads(lines[1])
    # The sandbox really is one: not root, no network interface but loopback, read-only code and model,
    # and no site-packages (everything the handler imports comes from the task root).
    assert facts["uid"] == NOBODY
    assert facts["interfaces"] == ["lo"]
    assert facts["model_dir_write"] and "Read-only" in facts["model_dir_write"], facts
    assert facts["task_root_write"] and "Read-only" in facts["task_root_write"], facts
    assert facts["site_packages_on_path"] == []
    assert smoke_result["smoke"] == "ok", smoke_result
    assert smoke_result["model_loaded_at_init"] is True
    assert smoke_result["dimension"] == 384
    print(f"\nimage run-time check: {smoke_result}")


# ---------------------------------------------------------------- each step's failure modes


def run_step(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(DOCKER_DIR / script), *args], capture_output=True, text=True, timeout=300)


def test_place_model_refuses_nested_model_links_and_empty(tmp_path):
    nested = tmp_path / "nested"
    (nested / "all-MiniLM-L6-v2").mkdir(parents=True)
    (nested / "all-MiniLM-L6-v2" / "config.json").write_text("{}")
    r = run_step("place_model.py", str(nested))
    assert r.returncode == 1 and "found only the directory 'all-MiniLM-L6-v2'" in r.stderr

    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "config.json").write_text("{}")
    (linked / "weights").symlink_to("/etc/hostname")
    r = run_step("place_model.py", str(linked))
    assert r.returncode == 1 and "weights is a symlink" in r.stderr

    empty = tmp_path / "empty"
    empty.mkdir()
    r = run_step("place_model.py", str(empty))
    assert r.returncode == 1 and "empty" in r.stderr


def test_place_model_makes_a_private_model_readable(tmp_path):
    model = tmp_path / "model"
    (model / "1_Pooling").mkdir(parents=True)
    (model / "config.json").write_text("{}")
    (model / "1_Pooling" / "config.json").write_text("{}")
    os.chmod(model / "config.json", 0o600)  # as hub caches often leave them
    r = run_step("place_model.py", str(model))
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE((model / "config.json").stat().st_mode) == 0o444
    assert stat.S_IMODE((model / "1_Pooling").stat().st_mode) == 0o555


def test_compile_step_fails_on_a_syntax_error(tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "good.py").write_text("x = 1\n")
    (tmp_path / "app" / "bad.py").write_text("def broken(:\n")
    r = run_step("compile_code.py", str(tmp_path))
    assert r.returncode == 1 and "compilation failed" in r.stderr


def test_install_step_names_the_package_without_a_wheel(tmp_path):
    req = tmp_path / "requirements.txt"
    # A version that never existed: pip fails fast with the package's name, and so does the step.
    req.write_text("scikit-learn==0.0.1\n")
    r = run_step("install_deps.py", str(req), str(tmp_path / "target"))
    assert r.returncode != 0
    assert "scikit-learn" in r.stderr and "no wheel" in r.stderr
