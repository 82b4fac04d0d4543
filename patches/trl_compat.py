"""TRL-version workaround for verl 0.9.1, kept apart from the ReDit plugin because it is not ReDit.

Imported by patches.redit_verl (and safe to import on its own); idempotent."""

from __future__ import annotations


def install():
    """verl 0.9.1 patches TRL's value-head model whenever TRL is importable, but TRL 1.x removed that
    class, so building any actor fails with an ImportError. This project's environment has TRL 1.16
    (the single-machine backend), so tell verl TRL is absent when the class is."""
    import sys
    from importlib import metadata

    from verl.utils import import_utils

    try:
        if int(metadata.version("trl").split(".")[0]) < 1:  # (checked by version: importing TRL is slow)
            return
    except metadata.PackageNotFoundError:
        return
    import_utils.is_trl_available = lambda: False
    patched = sys.modules.get("verl.models.transformers.monkey_patch")
    if patched is not None:
        patched.is_trl_available = lambda: False
