"""Docker RUN step 1: install the function's dependencies into the task root.

    python3 install_deps.py REQUIREMENTS TARGET [TORCH_INDEX_URL]

Binary wheels only: the Lambda base image has no compiler, and a package without a wheel for this Python and
platform should fail here, by name ("No matching distribution found for X"), not halfway through a source
build.

torch (and torchvision / torchaudio) must be the CPU build, and comes only from TORCH_INDEX_URL (the Dockerfile's
PyTorch CPU index): it is downloaded from there alone (--no-deps), must carry a "+cpu" local version, and is then
pinned to exactly that file while everything else installs from the default index (PyPI). That index is never an
*extra* index: pip would consult it for every package of every profile (slow when it is unreachable, and a
same-named, higher-versioned package there would win), and when it is unreachable pip would quietly fall back to
PyPI's CUDA torch (several GB). A profile without torch never touches it. After the install, the target is
checked: no nvidia-* or triton distribution, and a torch, if any, whose version says +cpu and whose
torch.version.cuda is None. Any of these failing fails the build, naming the index and the fix.
The same script runs outside Docker in python/tests/test_docker_steps.py.
"""
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import unquote

# Packages the PyTorch index builds per compute platform; everything else is the same on PyPI.
TORCH_PACKAGES = {"torch", "torchvision", "torchaudio"}
# Distributions that only a GPU build pulls in.
GPU_ONLY = re.compile(r"^(nvidia[-_].*|triton|pytorch[-_]triton.*)$", re.IGNORECASE)
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def torch_requirements(requirements: Path):
    """The requirement lines naming a torch package (comments and pip options skipped)."""
    out = []
    for raw in requirements.read_text().splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        m = _NAME.match(line)
        if m and canonical(m.group(1)) in TORCH_PACKAGES:
            out.append(line)
    return out


def pip(*args):
    return [sys.executable, "-m", "pip", *args, "--disable-pip-version-check", "--progress-bar", "off", "--no-cache-dir"]


def fetch_cpu_torch(lines, index: str, dest: Path):
    """Downloads the torch packages from the CPU index alone; returns constraint lines pinning the +cpu files."""
    cmd = pip("download", "--no-deps", "--only-binary=:all:", "--index-url", index, "--dest", str(dest),
              "--retries", "2", "--timeout", "30", *lines)
    print(f"[install_deps] torch from the PyTorch CPU index only: {' '.join(cmd)}", flush=True)
    code = subprocess.call(cmd)
    if code != 0:
        raise SystemExit(
            f"[install_deps] could not get {', '.join(lines)} from TORCH_INDEX_URL={index} (pip exit {code}, "
            f"output above). torch must come from the PyTorch CPU index: PyPI's torch is the CUDA build (~4 GB of "
            f"nvidia wheels Lambda cannot use), so there is no fallback. Make {index} reachable from the build, "
            f"or pass --build-arg TORCH_INDEX_URL=<a mirror of it that serves the +cpu wheels>.")
    pins = []
    for wheel in sorted(dest.glob("*.whl")):
        name, version = unquote(wheel.name).split("-")[:2]
        if not version.endswith("+cpu"):
            raise SystemExit(
                f"[install_deps] TORCH_INDEX_URL={index} served {wheel.name}, which is not a CPU build (no +cpu in "
                f"its version {version}): that is not the PyTorch CPU index. Point TORCH_INDEX_URL at "
                f"https://download.pytorch.org/whl/cpu or a mirror of it.")
        pins.append(f"{name}=={version}")
    if not pins:
        raise SystemExit(f"[install_deps] TORCH_INDEX_URL={index} gave no wheel for {', '.join(lines)}")
    return pins


def gpu_leftovers(target: Path):
    """nvidia-*/triton distributions in the target, and a torch that is not the CPU build; empty when clean."""
    problems = []
    for info in sorted(target.glob("*.dist-info")):
        name = info.name[: -len(".dist-info")].rsplit("-", 1)[0]
        if GPU_ONLY.match(name):
            problems.append(f"{info.name[: -len('.dist-info')]} (GPU-only)")
    version_file = target / "torch" / "version.py"
    if version_file.is_file():
        scope = {}
        exec(compile(version_file.read_text(), str(version_file), "exec"), scope)  # torch's own constants file
        version, cuda = scope.get("__version__", "?"), scope.get("cuda")
        if not str(version).endswith("+cpu") and cuda is not None:
            problems.append(f"torch {version} built for CUDA {cuda}")
    return problems


def main(argv):
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    requirements, target = Path(argv[0]), Path(argv[1])
    torch_index = argv[2] if len(argv) == 3 else ""
    started = time.monotonic()
    lines = torch_requirements(requirements)
    # Wheels downloaded from the CPU index live only for this step: nothing of them may end up in the layer.
    with tempfile.TemporaryDirectory(prefix="ml-lambda-wheels-") as tmp:
        cmd = pip("install", "--only-binary=:all:", "--target", str(target), "-r", str(requirements))
        if lines:
            if not torch_index:
                print(f"[install_deps] {requirements} needs {', '.join(lines)}, which must come from the PyTorch CPU "
                      f"index: pass TORCH_INDEX_URL (the Dockerfile's default is https://download.pytorch.org/whl/cpu)",
                      file=sys.stderr)
                return 1
            try:
                pins = fetch_cpu_torch(lines, torch_index, Path(tmp) / "wheels")
            except SystemExit as e:
                print(e, file=sys.stderr)
                return 1
            constraints = Path(tmp) / "cpu-torch.txt"
            constraints.write_text("".join(p + "\n" for p in pins))
            # The local files satisfy the +cpu pins; PyPI has no +cpu release, so it cannot supply another torch.
            cmd += ["--find-links", str(Path(tmp) / "wheels"), "--constraint", str(constraints)]
            print(f"[install_deps] pinned {', '.join(pins)}; everything else from the default index", flush=True)
        print(f"[install_deps] {' '.join(cmd)}", flush=True)
        code = subprocess.call(cmd)
    if code != 0:
        print(f"[install_deps] pip failed (exit {code}); the message above names the package that has no "
              f"wheel for Python {sys.version_info.major}.{sys.version_info.minor} on this platform", file=sys.stderr)
        return code
    problems = gpu_leftovers(target)
    if problems:
        print(f"[install_deps] GPU builds in {target}: {'; '.join(problems)}. Lambda has no GPU and these add GBs: "
              f"take torch from the PyTorch CPU index (TORCH_INDEX_URL) and drop GPU-only packages from "
              f"{requirements}", file=sys.stderr)
        return 1
    print(f"[install_deps] done in {time.monotonic() - started:.0f} s (no GPU-only packages in {target})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
