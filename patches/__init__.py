"""verl 0.9.1 plugin modules, loaded with VERL_USE_EXTERNAL_MODULES (see README: "verl backend").

    verl_cpu    run verl's stock trainer on a CPU (platform, gloo, `hf` rollout, replay poll)
    redit_verl  ReDit advantage estimators, the `redit_sync` trainer, the shared run folder
"""
