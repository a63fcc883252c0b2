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

from dra.augment import to_float
from dra.methods.base import Method
from dra.nets.vgg import vgg16_teacher, vgg_student


def distill_distance(student: torch.Tensor, teacher: torch.Tensor, mse_weight: float) -> torch.Tensor:
    """Per image: (1 - cos(student, teacher)) + mse_weight x mean squared difference, maps flattened."""
    s, t = student.flatten(1).float(), teacher.flatten(1).float()  # float32 under autocast too
    return (1 - F.cosine_similarity(s, t, dim=1)) + mse_weight * ((s - t) ** 2).mean(1)


class KDAD(Method):
    PARAMS = ("batch", "mse_weight", "train_blocks", "score_blocks", "iterations", "test_batch")

    def __init__(self, params, data, gen, weights):
        super().__init__(params, data, gen, weights)
        self.teacher = vgg16_teacher(weights)
        self.student = vgg_student()
        for key in ("train_blocks", "score_blocks"):
            if not set(params[key]) <= set(range(1, len(self.teacher.blocks) + 1)):
                raise ValueError(f"kdad {key} {params[key]}: blocks are numbered 1-{len(self.teacher.blocks)}")

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

    def score(self, images, data):
        return {"score": self.distance(to_float(images), self.params["score_blocks"])}


METHOD = KDAD
