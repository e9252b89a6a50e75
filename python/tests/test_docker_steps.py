"""python/Dockerfile, tested without Docker: its RUN steps run against a temporary root (tests/imagebuild.py), then
the handler runs from that root the way the image would at run time: as a non-root user, with no network but
loopback, with the code and the model on read-only mounts, with only the root's own packages importable.
The build here is the onnx profile (the torch profile needs the PyTorch CPU index, which these machines cannot
reach; `ML_LAMBDA_SLOW=1 npm run test:image` builds it in Docker where it can). The torch-index logic of the
dependency step is tested on its own against local fake indexes.

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
# An index that does not exist: the onnx profile must install without ever consulting it.
TEST_BUILD_ARGS = {"TORCH_INDEX_URL": "file:///nonexistent/torch-cpu-index"}


def say_fn(request):
    capture = request.config.pluginmanager.getplugin("capturemanager")

    def say(line: str) -> None:
        # Progress on the terminal even though pytest captures output: the first run installs several GB.
        with capture.global_and_fixture_disabled():
            print(f"\n[docker-steps] {line}", file=sys.stderr, flush=True)

    return say


@pytest.fixture(scope="module")
def image(request, onnx_model):
    workdir = Path(tempfile.mkdtemp(prefix="ml-lambda-image-", dir="/tmp"))
    # `nobody` must be able to reach the root; mkdtemp makes it 0700.
    os.chmod(workdir, 0o755)
    try:
        context = imagebuild.stage_context(workdir / "context", Path(onnx_model["stagedDir"]), REPO / "python" / "requirements-onnx.txt")
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
    # AWS's base image by default; BASE_IMAGE only for machines that cannot reach its registry.
    assert steps[1] == ("ARG", "BASE_IMAGE=public.ecr.aws/lambda/python:${PYTHON_VERSION}")
    assert steps[2] == ("FROM", "${BASE_IMAGE}")
    assert ("ARG", "TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu") in steps
    # No chmod/chown of the model after its COPY (that would store it twice): the context carries its modes.
    model_copy = steps.index(("COPY", "model/ ${MODEL_DIR}/"))
    assert steps[model_copy + 1][0] == "RUN" and "place_model.py" in steps[model_copy + 1][1]
    # The smoke step runs as an unprivileged user; the image's default user stays the base image's.
    smoke = next(i for i, (k, rest) in enumerate(steps) if k == "RUN" and "smoke.py" in rest)
    assert steps[smoke - 1] == ("USER", "993:990") and steps[smoke + 1] == ("USER", "root")
    assert [k for k, _ in steps].count("USER") == 2
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
    assert (task / "onnxruntime" / "__init__.py").is_file() and (task / "tokenizers").is_dir()
    # The onnx profile: no torch, and nothing GPU-only.
    assert not (task / "torch").exists()
    assert not [p.name for p in task.glob("*.dist-info") if p.name.lower().startswith(("nvidia", "triton"))]
    # Byte-compiled sources, hash-based and unchecked (flags == 1), for a read-only file system.
    version = imagebuild.python_version(image.python).replace(".", "")
    for module in ("handler", "request", "runtime", "model_store"):
        pyc = task / "app" / "__pycache__" / f"{module}.cpython-{version}.pyc"
        assert pyc.is_file(), pyc
        assert int.from_bytes(pyc.read_bytes()[4:8], "little") == 1, pyc
    # The model sits at the fixed path with the modes the context gave it: files readable and not writable by
    # anyone, directories traversable; no step after its COPY touched it (that would be a second copy).
    model = root / "opt" / "ml" / "model"
    assert (model / "config.json").is_file() and (model / "model.onnx").is_file()
    for p in model.rglob("*"):
        mode = stat.S_IMODE(p.stat().st_mode)
        assert mode == (0o755 if p.is_dir() else 0o444), (p, oct(mode))
    place = next(step for step in image.left_behind if "place_model.py" in step)
    assert image.left_behind[place] == []
    # The build-time smoke step ran as the unprivileged user, loaded the model, and left nothing in the root.
    smoke_step = next(step for step in image.outputs if "smoke.py" in step)
    smoke = json.loads(image.outputs[smoke_step].strip().splitlines()[-1])
    assert smoke["smoke"] == "ok" and smoke["dimension"] == 384, smoke
    assert image.left_behind[smoke_step] == [], image.left_behind[smoke_step]


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


def test_place_model_refuses_a_model_other_users_cannot_read_and_changes_nothing(tmp_path):
    model = tmp_path / "model"
    (model / "1_Pooling").mkdir(parents=True)
    (model / "config.json").write_text("{}")
    (model / "1_Pooling" / "config.json").write_text("{}")
    for p in (model / "config.json", model / "1_Pooling" / "config.json"):
        os.chmod(p, 0o444)
    os.chmod(model / "1_Pooling", 0o755)
    r = run_step("place_model.py", str(model))
    assert r.returncode == 0, r.stderr
    assert "readable by any user" in r.stdout

    os.chmod(model / "config.json", 0o600)  # as hub caches often leave them
    r = run_step("place_model.py", str(model))
    assert r.returncode == 1
    assert "config.json has mode 0600" in r.stderr and "non-root user" in r.stderr and "0444" in r.stderr
    # A check, not a fix: fixing modes after COPY would store the model a second time.
    assert stat.S_IMODE((model / "config.json").stat().st_mode) == 0o600

    os.chmod(model / "config.json", 0o444)
    os.chmod(model / "1_Pooling", 0o700)
    r = run_step("place_model.py", str(model))
    assert r.returncode == 1 and "1_Pooling has mode 0700: not traversable" in r.stderr


def test_smoke_step_refuses_to_run_as_root(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("runs as root only to check the refusal")
    r = run_step("smoke.py", str(tmp_path))
    assert r.returncode == 1 and "refusing to run as root" in r.stderr


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


# ---------------------------------------------------------------- torch only from the CPU index (fake indexes)


def _wheel(dest: Path, name: str, version: str, files: dict, requires: tuple = ()) -> Path:
    """A minimal pure-Python wheel, enough for pip to resolve and install it."""
    import zipfile

    dist = f"{name}-{version}"
    path = dest / f"{dist}-py3-none-any.whl"
    meta = "Metadata-Version: 2.1\nName: {}\nVersion: {}\n{}".format(
        name, version, "".join(f"Requires-Dist: {r}\n" for r in requires))
    entries = {**files, f"{dist}.dist-info/METADATA": meta,
               f"{dist}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    entries[f"{dist}.dist-info/RECORD"] = "".join(f"{k},,\n" for k in entries) + f"{dist}.dist-info/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as z:
        for k, v in entries.items():
            z.writestr(k, v)
    return path


def _index(root: Path, wheels: dict) -> str:
    """A PEP 503 index on disk: root/<project>/index.html linking each wheel; returns its file:// URL."""
    for project, files in wheels.items():
        (root / project).mkdir(parents=True)
        links = "".join(f'<a href="{w.as_uri()}">{w.name}</a>\n' for w in files)
        (root / project / "index.html").write_text(f"<html><body>\n{links}</body></html>\n")
    return root.as_uri()


@pytest.fixture
def fake_indexes(tmp_path):
    """A fake PyPI (whose torch is a "CUDA build" pulling an nvidia-* package) and a fake PyTorch CPU index."""
    w = tmp_path / "wheels"
    w.mkdir()
    cuda_torch = _wheel(w, "torch", "2.15.0", {"torch/__init__.py": "", "torch/version.py": "__version__ = '2.15.0'\ncuda = '12.8'\n"},
                        requires=("nvidia-fake-cublas",))
    cpu_torch = _wheel(w, "torch", "2.15.0+cpu", {"torch/__init__.py": "", "torch/version.py": "__version__ = '2.15.0+cpu'\ncuda = None\n"})
    nvidia = _wheel(w, "nvidia_fake_cublas", "1.0", {"nvidia_fake_cublas/__init__.py": ""})
    needs_torch = _wheel(w, "needs_torch", "1.0", {"needs_torch/__init__.py": ""}, requires=("torch>=2",))
    cudaish = _wheel(w, "cudaish", "1.0", {"cudaish/__init__.py": ""}, requires=("nvidia-fake-cublas",))
    tiny = _wheel(w, "tinydep", "1.0", {"tinydep/__init__.py": ""})
    pypi = _index(tmp_path / "pypi", {"torch": [cuda_torch], "nvidia-fake-cublas": [nvidia], "needs-torch": [needs_torch],
                                      "cudaish": [cudaish], "tinydep": [tiny]})
    cpu = _index(tmp_path / "cpu", {"torch": [cpu_torch]})
    env = {**os.environ, "PIP_INDEX_URL": pypi, "PIP_FIND_LINKS": "", "PIP_NO_INPUT": "1"}
    return {"pypi": pypi, "cpu": cpu, "env": env, "tmp": tmp_path}


def run_install(fake, requirements: str, index: str | None):
    req = fake["tmp"] / "requirements.txt"
    req.write_text(requirements)
    target = fake["tmp"] / "target"
    shutil.rmtree(target, ignore_errors=True)
    args = [sys.executable, str(DOCKER_DIR / "install_deps.py"), str(req), str(target)] + ([index] if index else [])
    return subprocess.run(args, capture_output=True, text=True, timeout=300, env=fake["env"]), target


def test_torch_comes_from_the_cpu_index_even_when_pypi_has_it_and_a_dependency_asks_for_it(fake_indexes):
    r, target = run_install(fake_indexes, "needs-torch==1.0\ntorch==2.15.0\n", fake_indexes["cpu"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "torch==2.15.0+cpu" in r.stdout
    assert "cuda = None" in (target / "torch" / "version.py").read_text()
    assert not list(target.glob("nvidia*")), "the CUDA build's nvidia dependency was installed"
    # The CPU index was asked for torch alone (--no-deps), never given to pip as an extra index.
    assert "--extra-index-url" not in r.stdout and "--no-deps" in r.stdout


def test_a_profile_without_torch_never_touches_the_torch_index(fake_indexes):
    r, target = run_install(fake_indexes, "tinydep==1.0\n", "file:///nonexistent/torch-cpu-index")
    assert r.returncode == 0, r.stdout + r.stderr
    assert (target / "tinydep").is_dir()
    assert "nonexistent" not in r.stdout + r.stderr


@pytest.mark.parametrize("case", ["unreachable", "serves-cuda", "no-index"])
def test_torch_without_a_cpu_build_fails_loudly_naming_the_index(fake_indexes, case):
    index = {"unreachable": "file:///nonexistent/torch-cpu-index", "serves-cuda": fake_indexes["pypi"], "no-index": None}[case]
    r, target = run_install(fake_indexes, "torch==2.15.0\n", index)
    assert r.returncode != 0
    assert not (target / "torch").exists(), "fell back to another torch"
    if case == "no-index":
        assert "must come from the PyTorch CPU index: pass TORCH_INDEX_URL" in r.stderr
    elif case == "unreachable":
        assert f"TORCH_INDEX_URL={index}" in r.stderr and "there is no fallback" in r.stderr
    else:
        assert "is not a CPU build (no +cpu" in r.stderr and f"TORCH_INDEX_URL={index}" in r.stderr


def test_gpu_only_packages_fail_the_step(fake_indexes):
    r, _ = run_install(fake_indexes, "cudaish==1.0\n", None)
    assert r.returncode == 1
    assert "GPU builds in" in r.stderr and "nvidia_fake_cublas-1.0 (GPU-only)" in r.stderr
