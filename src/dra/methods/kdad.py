"""KDAD, multiresolution knowledge distillation (PROTOCOL section 4): unsupervised, normals only.

A frozen VGG16 teacher and a slimmer VGG-like student (no bias, batch norm; nets/vgg.py). Per
compared block, the distance between the max-pool outputs is (1 - cosine similarity of the flattened
maps) + lambda x MSE; training sums it over blocks 2-5, the test score over blocks 3-5. Inputs are
[0, 1] images without ImageNet normalisation or augmentation, 128 px (its own image_size). An epoch
is one pass over the training normals by default (iterations: pass), as the authors' loader."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from dra.nets.augment import to_float
from dra.methods.base import Method
from dra.errors import DraError
from dra.nets.vgg import vgg16_teacher, vgg_student
from dra.plan.params import Param

UNSUPERVISED = True  # normals only: trained once per subset (0 shots)
BLOCKS = (1, 2, 3, 4, 5)
# The authors' code: Adam 1e-3, no weight decay, constant rate, no clipping, batch 64, 128 px, no
# augmentation; decision: their 601 epochs (a pass over the normals each) are the default.
PARAMS = {
    "epochs": 601, "iterations": "pass", "lr": 1.0e-3, "weight_decay": 0.0, "lr_step": 1, "lr_gamma": 1.0,
    "scheduler_at": "end", "grad_clip": 0.0, "test_batch": 64,
    "image_size": Param("int", 128, "its own input size (overrides the dataset's)", min=32),
    "batch": Param("int", 64, "normals per step", min=1),
    "mse_weight": Param("float", {"per_dataset": {"mvtecad": 0.5}, "default": 0.01},
                        "lambda of the MSE term (the authors' per-dataset configs)", min=0, per_dataset=True),
    "train_blocks": Param("list", [2, 3, 4, 5], "VGG blocks compared at their max-pool outputs in training",
                          items="int", choices=BLOCKS, min_length=1),
    "score_blocks": Param("list", [3, 4, 5], "VGG blocks compared in the test score", items="int", choices=BLOCKS,
                          min_length=1),
}


def distill_distance(student: torch.Tensor, teacher: torch.Tensor, mse_weight: float) -> torch.Tensor:
    """Per image: (1 - cos(student, teacher)) + mse_weight x mean squared difference, maps flattened."""
    s, t = student.flatten(1).float(), teacher.flatten(1).float()  # float32 under autocast too
    return (1 - F.cosine_similarity(s, t, dim=1)) + mse_weight * ((s - t) ** 2).mean(1)


class KDAD(Method):
    def __init__(self, params, data, gen):
        super().__init__(params, data, gen)
        self.teacher = vgg16_teacher(data.pretrained.get("vgg16"))
        self.student = vgg_student()
        for key in ("train_blocks", "score_blocks"):
            if not set(params[key]) <= set(range(1, len(self.teacher.blocks) + 1)):
                raise DraError(f"kdad {key} {params[key]}: expected blocks numbered 1-{len(self.teacher.blocks)}")

    def train(self, mode: bool = True):
        super().train(mode)
        self.teacher.eval()  # frozen: never in training mode
        return self

    def distance(self, x: torch.Tensor, blocks) -> torch.Tensor:
        """Per image: the distillation distance summed over the given blocks (1-based)."""
        with torch.no_grad():
            t = self.teacher(x)
        s = self.student(x)
        return sum(distill_distance(s[b - 1], t[b - 1], self.params["mse_weight"]) for b in blocks)

    def make_batch(self, data):
        return (to_float(self.draw(data.normal, self.params["batch"])),)

    def batch_loss(self, batch):
        return self.distance(batch[0], self.params["train_blocks"]).mean()

    def iterations_per_epoch(self, data) -> int:
        if self.params["iterations"] == "pass":
            return math.ceil(len(data.normal) / self.params["batch"])
        return int(self.params["iterations"])

    def images_per_step(self, data) -> int:
        return self.params["batch"]

    def score(self, images, data, maps=False):
        x = to_float(images)
        out = {"score": self.distance(x, self.params["score_blocks"])}
        if maps:
            out["map"] = self.distance_map(x, self.params["score_blocks"])
        return out

    def distance_map(self, x: torch.Tensor, blocks) -> torch.Tensor:
        """Per position of each compared block: (1 - cosine similarity over channels) + lambda x the
        mean squared difference over channels, upsampled to the input and summed over the blocks."""
        t, s = self.teacher(x), self.student(x)
        maps = []
        for b in blocks:
            sb, tb = s[b - 1].float(), t[b - 1].float()
            d = (1 - F.cosine_similarity(sb, tb, dim=1)) + self.params["mse_weight"] * ((sb - tb) ** 2).mean(1)
            maps.append(F.interpolate(d[:, None], size=x.shape[-2:], mode="bilinear", align_corners=False))
        return torch.stack(maps).sum(0)[:, 0]


METHOD = KDAD
