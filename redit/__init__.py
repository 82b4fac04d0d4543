"""ReDit reproduction: the framework-free core (dithering, schedules, tasks, rewards, run folders).

`REPO_ROOT` is the one place the repository's root is computed; everything else imports it.
"""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
