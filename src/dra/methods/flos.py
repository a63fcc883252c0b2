"""FLOS: DevNet with the binary focal loss (alpha 1, gamma 2) on the top-K score as a logit
(PROTOCOL section 4). Everything else (head, two scales, balanced batches, schedule) is DevNet's."""

from __future__ import annotations

from dra.errors import DraError
from dra.methods.devnet import DevNet
from dra.plan.params import Param

EXTENDS = "devnet"
PARAMS = {"loss": Param("str", "focal", "FLOS is DevNet with the binary focal loss", choices=("focal",))}


class FLOS(DevNet):
    def __init__(self, params, data, gen):
        if params["loss"] != "focal":  # a FLOS run is never silently another loss's DevNet
            raise DraError(f"flos: loss {params['loss']!r}; FLOS is DevNet with loss focal")
        super().__init__(params, data, gen)


METHOD = FLOS
