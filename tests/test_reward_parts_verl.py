"""verl's `+algorithm.redit.reward_parts=K` reaches the dither config of the verl plugin."""

import pytest


def test_verl_algorithm_section_passes_reward_parts_through():
    from omegaconf import OmegaConf

    from patches.redit_verl import dither_config

    algorithm = OmegaConf.from_dotlist(["redit.sigma=0.1", "redit.reward_parts=5"])
    assert dither_config(algorithm).reward_parts == 5
    assert dither_config(OmegaConf.from_dotlist(["redit.sigma=0.1"])).reward_parts == 1
    with pytest.raises(ValueError, match="algorithm.redit: dither reward_parts must be a whole number >= 1"):
        dither_config(OmegaConf.from_dotlist(["redit.reward_parts=0"]))
