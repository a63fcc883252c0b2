"""The method registry: each method's name, the module under `dra.methods` that implements it, and
the pretrained architectures its runs start from under `weights: imagenet`. Adding a method is its
module (with `PARAMS`, dra.plan.params), one line here and its entry in config.yaml's `variants`.

Torch-free: the workflow reads it when it plans; `dra.methods.method_class` imports a module only
when a run uses it, so a run imports its own method's code and nothing else."""

from __future__ import annotations

from dataclasses import dataclass

from dra.errors import DraError, closest


@dataclass(frozen=True)
class Entry:
    module: str                      # dra.methods.<module>: `METHOD`, or `METHODS[name]` where it holds several
    weights: tuple[str, ...] = ()    # pretrained architectures it reads (dra.plan.weights)
    based: bool = False              # builds on the trained model of another run (its parameter `base`)


REGISTRY = {
    "dra": Entry("dra", ("resnet18",)),
    "devnet": Entry("devnet", ("resnet18",)),
    "flos": Entry("flos", ("resnet18",)),
    "saoe": Entry("saoe", ("resnet18",)),
    "mlep": Entry("mlep", ("resnet18",)),
    "kdad": Entry("kdad", ("vgg16",)),
    "deepsad": Entry("deepsad", ("resnet18",)),
    "minns": Entry("minns", ("resnet18",)),
    "ahl_dra": Entry("ahl.method", based=True),  # the base run's trained trunk, not ImageNet
    "ahl_devnet": Entry("ahl.method", based=True),
}
METHODS = {name: e.module for name, e in REGISTRY.items()}
BASED = tuple(m for m, e in REGISTRY.items() if e.based)
STANDALONE = tuple(m for m, e in REGISTRY.items() if not e.based)


def entry(method: str) -> Entry:
    if method not in REGISTRY:
        raise DraError(f"unknown method {method!r}{closest(str(method), REGISTRY)}; expected one of {list(REGISTRY)}")
    return REGISTRY[method]


def module_name(method: str) -> str:
    return f"dra.methods.{entry(method).module}"
