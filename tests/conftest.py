import os
import subprocess
import sys

import pytest

from redit import REPO_ROOT as REPO  # noqa: E402


@pytest.fixture(scope="session")
def tiny_policy_path():
    """The default tiny policy (SFT warm-up on first use, ~70 s on 2 cores; cached in checkpoints/)."""
    from redit.tiny_policy import ensure_tiny_policy

    return ensure_tiny_policy()


def run_cli(*args, timeout=600, env=None):
    """Run `python -m <args>` from the repository root; return the CompletedProcess."""
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", *map(str, args)], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env=full_env)
