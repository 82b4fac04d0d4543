"""The environment set-up: the torch build scripts/ensure_venv.sh picks (scripts/torch_choice.sh), its install
sequence (run against a fake .venv/bin/python that records pip's arguments: nothing is installed, no network),
environment.yml's pins against the CPU stack's, and scripts/check_env.py's verdict."""

import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib

import pytest
import yaml
from packaging.requirements import Requirement

from redit import REPO_ROOT as REPO

TOOLS = ["bash", "cat", "cut", "dirname", "grep", "head", "ls", "sed", "sha256sum", "uname", "curl", "python3"]
GPU_LINE = "GPU 0: NVIDIA H200 (UUID: GPU-00000000-0000-0000-0000-000000000000)"


def pinned(name):
    """The version constraints.txt pins for `name`."""
    for line in (REPO / "constraints.txt").read_text().splitlines():
        if line.startswith(f"{name}=="):
            return line.split("==", 1)[1].strip()
    raise AssertionError(f"constraints.txt pins no {name}")


@pytest.fixture
def sandbox(tmp_path):
    """A copy of the set-up files in a fresh root, a PATH holding only the tools the scripts use (so no real
    nvidia-smi), a reachable file:// CPU index and a device file that does not exist."""
    root = tmp_path / "repo"
    (root / "scripts").mkdir(parents=True)
    for rel in ["scripts/ensure_venv.sh", "scripts/torch_choice.sh", "pyproject.toml", "constraints.txt"]:
        shutil.copy(REPO / rel, root / rel)
    tools = tmp_path / "tools"
    tools.mkdir()
    for name in TOOLS:
        found = shutil.which(name)
        if found:
            (tools / name).symlink_to(found)
    fake = tmp_path / "fake"  # tests drop a fake nvidia-smi / uname here (first on PATH)
    fake.mkdir()
    index = tmp_path / "cpu-index"
    (index / "torch").mkdir(parents=True)
    env = {"PATH": f"{fake}:{tools}", "HOME": str(tmp_path), "REDIT_TORCH_CPU_INDEX": f"file://{index}",
           "REDIT_GPU_DEVICE_FILE": str(tmp_path / "no-nvidia0")}
    return {"root": root, "fake": fake, "env": env, "index": f"file://{index}", "tmp": tmp_path}


def fake_tool(sb, name, body):
    path = sb["fake"] / name
    path.write_text(f"#!/bin/bash\n{body}\n")
    path.chmod(0o755)


def choose(sb, **env):
    """Run torch_choice.sh; (exit status, stdout line, stderr lines)."""
    proc = subprocess.run(["/bin/bash", str(sb["root"] / "scripts/torch_choice.sh")], capture_output=True, text=True,
                          env={**sb["env"], **env}, timeout=30)
    return proc.returncode, proc.stdout.strip(), proc.stderr.splitlines()


CPU_FALLBACK = f"torch=={pinned('torch').split('+')[0]}+cpu"


@pytest.mark.parametrize("case, env, smi, expect, reason", [
    ("no nvidia-smi, index answers", {}, None, "INDEX", "CPU build (auto: no NVIDIA GPU visible) from"),
    ("no nvidia-smi, index missing", {"REDIT_TORCH_CPU_INDEX": "file:///nonexistent/whl/cpu"}, None, CPU_FALLBACK,
     "file:///nonexistent/whl/cpu is not reachable"),
    ("no CPU index wanted", {"REDIT_TORCH_CPU_INDEX": ""}, None, CPU_FALLBACK, "no CPU index (REDIT_TORCH_CPU_INDEX is empty)"),
    ("nvidia-smi lists a GPU", {}, f"echo '{GPU_LINE}'", "torch", "CUDA build (auto: an NVIDIA GPU is visible)"),
    ("nvidia-smi fails (no driver)", {}, "echo 'NVIDIA-SMI has failed' >&2; exit 9", "INDEX", "auto: no NVIDIA GPU visible"),
    ("nvidia-smi lists nothing", {}, "exit 0", "INDEX", "auto: no NVIDIA GPU visible"),
    ("REDIT_TORCH=cpu beats a GPU", {"REDIT_TORCH": "cpu"}, f"echo '{GPU_LINE}'", "INDEX", "CPU build (REDIT_TORCH=cpu)"),
    ("REDIT_TORCH=cuda without a GPU", {"REDIT_TORCH": "cuda"}, None, "torch", "CUDA build (REDIT_TORCH=cuda)"),
])
def test_torch_choice(sandbox, case, env, smi, expect, reason):
    if smi is not None:
        fake_tool(sandbox, "nvidia-smi", smi)
    rc, out, err = choose(sandbox, **env)
    assert rc == 0, (case, err)
    assert out == (f"torch --index-url {sandbox['index']}" if expect == "INDEX" else expect), case
    assert len(err) == 1 and err[0].startswith("[setup] torch: ") and reason in err[0], (case, err)


def test_torch_choice_device_file_marks_a_gpu(sandbox):
    dev = sandbox["tmp"] / "nvidia0"
    dev.touch()
    rc, out, err = choose(sandbox, REDIT_GPU_DEVICE_FILE=str(dev))
    assert (rc, out) == (0, "torch") and "an NVIDIA GPU is visible" in err[0]


def test_torch_choice_not_linux_takes_the_default_build(sandbox):
    fake_tool(sandbox, "uname", "echo Darwin")
    fake_tool(sandbox, "nvidia-smi", "exit 1")
    rc, out, err = choose(sandbox)
    assert (rc, out) == (0, "torch") and "Darwin has no CUDA build" in err[0]


@pytest.mark.skipif(shutil.which("curl") is None, reason="the http probe uses curl")
def test_torch_choice_http_probe_is_short(sandbox):
    """An index that refuses the connection (a closed local port: no network) is abandoned at once."""
    t0 = time.monotonic()
    rc, out, err = choose(sandbox, REDIT_TORCH_CPU_INDEX="http://127.0.0.1:9/whl/cpu")
    assert (rc, out) == (0, CPU_FALLBACK) and "http://127.0.0.1:9/whl/cpu is not reachable" in err[0]
    assert time.monotonic() - t0 < 6


@pytest.mark.parametrize("bad", ["gpu", "CPU", "cu128"])
def test_torch_choice_rejects_unknown_values(sandbox, bad):
    assert choose(sandbox, REDIT_TORCH=bad) == (2, "", [f"[setup] error: REDIT_TORCH={bad}; use auto, cpu or cuda"])


# ---- ensure_venv.sh against a fake interpreter ---------------------------------------------------------------

def fake_venv(sb, fail=""):
    """.venv/bin/python that logs its arguments (one line per call) and fails when they match the regex `fail`."""
    bin_dir = sb["root"] / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    log = sb["tmp"] / "calls.log"
    py = bin_dir / "python"
    py.write_text(f'#!/bin/bash\necho "$*" >> {log}\n'
                  + (f'if [[ "$*" =~ {fail} ]]; then echo "ERROR: No matching distribution" >&2; exit 1; fi\n' if fail else "")
                  + 'if [[ "$1" == -c ]]; then echo "[setup] installed torch (fake)"; fi\n')
    py.chmod(0o755)
    return log


def ensure(sb, **env):
    proc = subprocess.run(["/bin/bash", "-c", "source scripts/ensure_venv.sh"], cwd=sb["root"], capture_output=True,
                          text=True, env={**sb["env"], **env}, timeout=30)
    return proc.returncode, proc.stdout, proc.stderr.splitlines()


def calls(log):
    root_free = [re.sub(r"\S*/repo", "ROOT", line) for line in log.read_text().splitlines()] if log.exists() else []
    return root_free


def test_ensure_venv_installs_the_cpu_build_first_and_stamps(sandbox):
    log = fake_venv(sandbox)
    rc, out, err = ensure(sandbox)
    assert rc == 0, err
    assert calls(log) == [
        "-m pip install -q --upgrade pip",
        f"-m pip install -q -c ROOT/constraints.txt torch --index-url {sandbox['index']}",
        "-m pip install -q -c ROOT/constraints.txt -e ROOT[test]",
        "-c import redit, torch, trl, verl; print('[setup] installed torch', torch.__version__)",
    ]
    # the stamp is still sha256(pyproject.toml + constraints.txt): existing .venvs do not reinstall for this change
    want = hashlib.sha256((REPO / "pyproject.toml").read_bytes() + (REPO / "constraints.txt").read_bytes()).hexdigest()
    assert (sandbox["root"] / ".venv/.redit-install-stamp").read_text().strip() == want
    # a second call finds the stamp and runs nothing
    log.unlink()
    assert ensure(sandbox)[0] == 0 and calls(log) == []


def test_ensure_venv_falls_back_to_plain_torch_with_one_line(sandbox):
    log = fake_venv(sandbox, fail=r"\+cpu")
    rc, out, err = ensure(sandbox, REDIT_TORCH_CPU_INDEX="file:///nonexistent")
    assert rc == 0, err
    torch_calls = [c for c in calls(log) if c.startswith("-m pip install") and " torch" in c]
    assert torch_calls == [f"-m pip install -q -c ROOT/constraints.txt {CPU_FALLBACK}",
                           "-m pip install -q -c ROOT/constraints.txt torch"]
    notes = [line for line in err if line.startswith("[setup] torch: ")]
    assert len(notes) == 2 and "is not reachable" in notes[0] and "installing plain torch" in notes[1], err


def test_ensure_venv_stops_when_torch_cannot_be_installed(sandbox):
    log = fake_venv(sandbox, fail=" torch$")
    fake_tool(sandbox, "nvidia-smi", f"echo '{GPU_LINE}'")
    rc, out, err = ensure(sandbox)
    assert rc == 1 and err[-1] == "[setup] error: installing torch failed (see pip output above)"
    assert not (sandbox["root"] / ".venv/.redit-install-stamp").exists() and "-e ROOT[test]" not in " ".join(calls(log))


def test_ensure_venv_current_venv_notes_a_different_build_and_rejects_typos(sandbox):
    log = fake_venv(sandbox)
    assert ensure(sandbox)[0] == 0
    log.unlink()
    assert ensure(sandbox, REDIT_TORCH="cuda") == (0, "", [])  # no torch found in .venv: nothing to say
    (sandbox["root"] / ".venv/lib/python3.11/site-packages/torch-2.13.0+cpu.dist-info").mkdir(parents=True)
    assert ensure(sandbox, REDIT_TORCH="cpu") == (0, "", [])
    rc, _, err = ensure(sandbox, REDIT_TORCH="cuda")
    assert rc == 0 and err == ["[setup] note: .venv has torch 2.13.0+cpu; REDIT_TORCH=cuda takes effect on a new .venv (rm -rf .venv)"]
    assert ensure(sandbox, REDIT_TORCH="gpu") == (2, "", ["[setup] error: REDIT_TORCH=gpu; use auto, cpu or cuda"])
    assert calls(log) == []  # nothing installed in any of these


# ---- environment.yml ------------------------------------------------------------------------------------------

def env_yml_pins():
    deps = yaml.safe_load((REPO / "environment.yml").read_text())["dependencies"]
    pip = next(d["pip"] for d in deps if isinstance(d, dict))
    return {Requirement(line).name.lower(): Requirement(line) for line in pip}


def test_environment_yml_pins_exactly_and_agrees_with_the_cpu_stack():
    reqs = env_yml_pins()
    for name, req in reqs.items():
        assert len(req.specifier) == 1 and next(iter(req.specifier)).operator == "==", f"{name} is not pinned exactly"
    version = {name: next(iter(req.specifier)).version for name, req in reqs.items()}
    for name in ("trl", "verl"):
        assert version[name] == pinned(name), name
    project = {Requirement(d).name.lower(): Requirement(d) for d in tomllib.loads(
        (REPO / "pyproject.toml").read_text())["project"]["dependencies"]}
    assert project["transformers"].specifier.contains(version["transformers"])
    # verl's vllm/fsdp extras pin transformers 5.9.0 and trl 0.27.0, which the TRL backend is not tested with
    assert reqs["verl"].extras == {"verl-core"}


def load_check_env():
    spec = importlib.util.spec_from_file_location("check_env", REPO / "scripts/check_env.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_check_env_tested_versions_match_the_environment_files():
    tested = load_check_env().TESTED
    version = {name: next(iter(req.specifier)).version for name, req in env_yml_pins().items()}
    for name in ("torch", "transformers", "trl", "verl", "vllm"):
        assert version[name] in tested[name], name
    assert pinned("torch") + "+cpu" in tested["torch"] and pinned("trl") in tested["trl"]


# ---- check_env's verdict --------------------------------------------------------------------------------------

TESTED_CPU = {"torch": "2.13.0+cpu", "transformers": "5.10.4", "trl": "1.16.0", "verl": "0.9.1", "vllm": None}


def test_check_env_cpu_venv_runs_both_backends():
    lines, runs = load_check_env().verdict(TESTED_CPU, {"redit.trl_backend": None, "patches.redit_verl": None}, 0)
    assert runs and lines == [
        "TRL backend (python -m redit.train): runs, on the CPU",
        "verl backend (experiments/*): runs, on the CPU with patches.verl_cpu (VERL_PLATFORM=cpu); "
        "hf rollout only (patches.hf_rollout; vLLM absent)"]


def test_check_env_gpu_env_with_vllm_and_flash_attn():
    versions = {**TESTED_CPU, "torch": "2.11.0", "vllm": "0.24.0"}
    errors = {"redit.trl_backend": None, "patches.redit_verl": None, "vllm": None, "flash_attn": None}
    lines, runs = load_check_env().verdict(versions, errors, 8)
    assert runs and lines == [
        "TRL backend (python -m redit.train): runs, on CUDA (8 GPUs)",
        "verl backend (experiments/*): runs, on CUDA (8 GPUs); vLLM rollout (rollout.name=vllm); attention: flash-attn"]


def test_check_env_reports_failures_and_untested_versions():
    check = load_check_env()
    versions = {**TESTED_CPU, "trl": "0.27.0", "transformers": "5.9.0"}
    errors = {"redit.trl_backend": "ImportError: cannot import name 'GRPOTrainer'", "patches.redit_verl": None,
              "vllm": "ImportError: libcuda.so.1"}
    lines, runs = check.verdict(versions, errors, 1)
    assert runs and lines == [
        "TRL backend (python -m redit.train): does not run (ImportError: cannot import name 'GRPOTrainer')",
        "verl backend (experiments/*): runs, on CUDA (1 GPU); hf rollout only (patches.hf_rollout; vLLM does not import: "
        "ImportError: libcuda.so.1); "
        "attention: sdpa (flash-attn absent)",
        "untested version: transformers 5.9.0 (tested: 5.10.4)",
        "untested version: trl 0.27.0 (tested: 1.16.0)"]
    assert check.verdict(versions, {"redit.trl_backend": "x", "patches.redit_verl": "y"}, 0)[1] is False


@pytest.mark.slow
def test_check_env_in_this_environment():
    """The script itself, in the interpreter running the tests (imports TRL and verl: ~10-20 s)."""
    proc = subprocess.run([sys.executable, str(REPO / "scripts/check_env.py")], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "TRL backend (python -m redit.train): runs" in proc.stdout
    assert "verl backend (experiments/*): runs" in proc.stdout
