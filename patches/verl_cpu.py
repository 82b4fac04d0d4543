"""verl 0.9.1 on a CPU: a plugin module, loaded by verl in every process, that makes the stock
`python -m verl.trainer.main_ppo` loop run with no accelerator (laptop check of a cluster recipe).

    export VERL_USE_EXTERNAL_MODULES=patches.verl_cpu,patches.redit_verl   # this module FIRST
    export VERL_PLATFORM=cpu VERL_ENGINE_DEVICE=cuda
    python -m verl.trainer.main_ppo ...          # plus the CPU_OVERRIDES of patches/verl_recipe.py

What stock verl lacks on a CPU, and what this module adds (see ../shared/notes/verl-0.9.1.md):
  1. a `cpu` platform (device "cpu", backend gloo) in verl's platform registry (VERL_PLATFORM=cpu);
  2. a de-duplicated process-group backend string: verl asks for "cpu:gloo,cpu:gloo";
  3. an `hf` rollout (`actor_rollout_ref.rollout.name=hf`): a Ray actor that generates with
     `transformers` and receives the trained weights every step -- verl 0.9.1 registers only
     vllm/sglang/trtllm;
  4. a 0.05 s replay-buffer poll instead of the hard-coded 2 s (a 2 s floor per step).
The overrides that go with it (Ray GPU/CPU resources, FSDP2, sdpa, fp32, ...) are
`CPU_OVERRIDES` in patches/verl_recipe.py. Importing this module on a GPU machine changes nothing unless
VERL_PLATFORM=cpu or rollout.name=hf is chosen.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

import torch

REPLAY_POLL_SECONDS = 0.05


# --- 1. the cpu platform -------------------------------------------------------------------------

class _CpuDeviceModule:
    """`torch.cpu` plus the cuda-style calls verl makes on its device module (memory statistics,
    cache flushing, rng state), which are no-ops or zeros on a CPU."""

    _ZERO = ("memory_allocated", "memory_reserved", "max_memory_allocated", "max_memory_reserved")
    _NOOP = ("empty_cache", "reset_peak_memory_stats", "reset_max_memory_allocated", "ipc_collect",
             "set_per_process_memory_fraction", "set_device", "synchronize")

    def __getattr__(self, name):
        if name in self._ZERO:
            return lambda *a, **k: 0
        if name in self._NOOP:
            return lambda *a, **k: None
        if name == "mem_get_info":  # (free, total) in bytes: report the machine's RAM
            return lambda *a, **k: (os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"),
                                    os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        if name in ("get_rng_state", "set_rng_state", "manual_seed", "manual_seed_all", "initial_seed"):
            return getattr(torch.random, name) if hasattr(torch.random, name) else getattr(torch, name)
        if name == "is_initialized":
            return lambda: True
        if name == "get_device_name":
            return lambda *a, **k: "CPU"
        return getattr(torch.cpu, name)


def _register_cpu_platform():
    from verl.plugin.platform.platform_base import PlatformBase
    from verl.plugin.platform.platform_manager import PlatformRegistry

    if PlatformRegistry.get("cpu") is not None:  # idempotent: Ray workers may import us twice
        return

    @PlatformRegistry.register(platform="cpu")
    class PlatformCPU(PlatformBase):
        device_name = "cpu"
        vendor_name = "cpu"
        device_module = _CpuDeviceModule()

        def is_available(self):
            return True

        def current_device(self):
            return "cpu"  # used as `tensor.to(get_device_id())`: an int would mean cuda:<int>

        def device_count(self):
            return 1

        def set_device(self, device_index):
            pass

        def synchronize(self, device_index=None):
            pass

        def manual_seed(self, seed):
            torch.manual_seed(seed)

        def manual_seed_all(self, seed):
            torch.manual_seed(seed)

        def set_allocator_settings(self, settings):
            pass

        def empty_cache(self):
            pass

        def get_device_capability(self, device_index=0):
            return None, None

        def communication_backend_name(self):
            return "gloo"

        def visible_devices_envvar(self):
            return "CUDA_VISIBLE_DEVICES"

        @contextmanager
        def nvtx_range(self, msg):
            yield

        def profiler_start(self):
            pass

        def profiler_stop(self):
            pass

        def ray_resource_name(self):
            return "GPU"  # Ray is told the machine has one "GPU" (+ray_kwargs.ray_init.num_gpus=1)

        def ray_noset_envvars(self):
            return ["RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES"]

        def is_ipc_supported(self):
            return False

        def cudart(self):
            return None


# --- 2. process group backend string ----------------------------------------------------------------

def _dedupe_backend_string():
    import torch.distributed as dist

    if getattr(dist.init_process_group, "_redit_dedup", False):
        return
    original = dist.init_process_group

    def init_process_group(*args, backend=None, **kwargs):
        if isinstance(backend, str) and "," in backend:  # "cpu:gloo,cpu:gloo" -> "cpu:gloo"
            backend = ",".join(dict.fromkeys(part.strip() for part in backend.split(",")))
        return original(*args, backend=backend, **kwargs)

    init_process_group._redit_dedup = True
    dist.init_process_group = init_process_group


# --- 3. the hf rollout (classes in patches.hf_rollout, imported only when rollout.name=hf) ----------

def _register_hf_rollout():
    import importlib

    from verl.workers.rollout import base as rollout_base
    from verl.workers.rollout.replica import RolloutReplicaRegistry

    RolloutReplicaRegistry.register("hf", lambda: importlib.import_module("patches.hf_rollout").HFReplica)
    rollout_base._ROLLOUT_REGISTRY[("hf", "async")] = "patches.hf_rollout.HFServerAdapter"


# --- 4. replay-buffer poll -----------------------------------------------------------------------------

def _shorten_replay_poll():
    from verl.trainer.ppo.v1 import replay_buffer

    for cls in (replay_buffer.ReplayBuffer, replay_buffer.ReplayBufferAsync):
        if getattr(cls.__init__, "_redit_poll", False):
            continue
        original = cls.__init__

        def __init__(self, *args, _original=original, **kwargs):
            _original(self, *args, **kwargs)
            self.poll_interval = min(self.poll_interval, REPLAY_POLL_SECONDS)

        __init__._redit_poll = True
        cls.__init__ = __init__


def install():
    """Idempotent: safe when verl imports this module more than once in a process."""
    _register_cpu_platform()
    _dedupe_backend_string()
    _register_hf_rollout()
    if os.environ.get("VERL_PLATFORM", "").lower() == "cpu":
        _shorten_replay_poll()


install()
