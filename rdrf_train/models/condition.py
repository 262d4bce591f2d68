"""How the condition latents reach the control branch's input conv: DiffUR3 and the ablations of
Table 1 (seeds/000). One Literal serves the model (`ControlBranch(condition=...)`) and the training
config (`model.condition`); it lives apart from the model so the config validates without diffusers.

    "modulate_gate"  [c̄_s, c̄_lq, z_t] through Modulate&Gate         DiffUR3
    "concat"         [c_s, c_lq, z_t], plain channel concatenation    w/o Modulate&Gate
    "lq"             [c_lq, z_t]                                      Baseline 1 (I_lq as condition)
    "s"              [c_s, z_t]                                       Baseline 2 (I_s as condition, = DiffBIR)
"""

from __future__ import annotations

from typing import Literal, get_args

Condition = Literal["modulate_gate", "concat", "lq", "s"]
CONDITIONS: tuple[str, ...] = get_args(Condition)
