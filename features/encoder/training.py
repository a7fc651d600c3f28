"""Contrastive training of the embedded CLIP on (product photo, product text) pairs.

Everything lives on one device as tensors (photos as uint8, texts pre-tokenised), so the loop
is matrix work only. The learning-rate schedule runs on *time* (warm-up, then cosine to the
end of the budget), so the same command fits a 2-core CPU or a GPU: it adapts the steps.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass

import pandas as pd
import torch
import torch.nn.functional as F

from features.checks import check_fields, number, whole
from features.errors import ModelSpecError
from features.prompts import training_text


@dataclass
class EncoderTrainingConfig:
    model: str = "tailorcard-clip-s64"
    batch_size: int = 512
    lr: float = 1e-3
    weight_decay: float = 0.1
    warmup_fraction: float = 0.03
    minutes: float = 20.0
    max_steps: int = 10**9
    texts_per_product: int = 6
    checkpoint_every_s: float = 60.0
    eval_every_s: float = 120.0
    eval_products: int = 2000
    seed: int = 0

    def __post_init__(self):
        check_fields(self, ModelSpecError, (
            ("model", isinstance(self.model, str) and bool(self.model), "a model config name"),
            ("batch_size", whole(self.batch_size, 2), "an integer >= 2 (contrastive pairs)"),
            ("lr", number(self.lr, 0, above=True), "a number > 0"),
            ("weight_decay", number(self.weight_decay, 0), "a number >= 0"),
            ("warmup_fraction", number(self.warmup_fraction, 0, 1), "a number in 0..1"),
            ("minutes", number(self.minutes, 0, above=True), "a number > 0"),
            ("max_steps", whole(self.max_steps, 1), "an integer >= 1"),
            ("texts_per_product", whole(self.texts_per_product, 1), "an integer >= 1"),
            ("checkpoint_every_s", number(self.checkpoint_every_s, 0, above=True), "a number > 0"),
            ("eval_every_s", number(self.eval_every_s, 0, above=True), "a number > 0"),
            ("eval_products", whole(self.eval_products, 1), "an integer >= 1"),
            ("seed", whole(self.seed, 0), "an integer >= 0"),
        ))


class PairBatches:
    """Random (augmented image, one of the product's texts) batches from device tensors."""

    def __init__(self, images: torch.Tensor, tokens: torch.Tensor, mean, std, image_size: int, generator=None):
        self.images, self.tokens, self.generator = images, tokens, generator
        self.mean, self.std, self.image_size = mean, std, image_size

    def sample(self, batch_size: int):
        device = self.images.device
        rows = torch.randint(len(self.images), (batch_size,), device=device, generator=self.generator)
        variant = torch.randint(self.tokens.shape[1], (batch_size,), device=device, generator=self.generator)
        pixels = self.images[rows].permute(0, 3, 1, 2).float() / 255.0
        return self.normalise(self.augment(pixels)), self.tokens[rows, variant]

    def normalise(self, pixels: torch.Tensor) -> torch.Tensor:
        return standardise(pixels, self.mean, self.std, self.image_size)

    def augment(self, pixels: torch.Tensor) -> torch.Tensor:
        """Small scale/shift and horizontal flips; never colour changes (colour is a label)."""
        n = len(pixels)
        rand = lambda *shape: torch.rand(*shape, device=pixels.device, generator=self.generator)
        scale = 0.9 + 0.2 * rand(n)
        flip = torch.where(rand(n) < 0.5, -1.0, 1.0)
        theta = torch.zeros(n, 2, 3, device=pixels.device)
        theta[:, 0, 0] = scale * flip
        theta[:, 1, 1] = scale
        theta[:, :, 2] = (rand(n, 2) - 0.5) * 0.12
        grid = F.affine_grid(theta, list(pixels.shape), align_corners=False)
        # grid_sample pads with zeros; shifting by one makes the padding white, like the photos.
        return F.grid_sample(pixels - 1.0, grid, align_corners=False, padding_mode="zeros") + 1.0


def standardise(pixels: torch.Tensor, mean, std, image_size: int) -> torch.Tensor:
    """[n, 3, s, s] pixels in 0..1 -> the visual tower's input: resized (a pack may be larger) and
    standardised with the model's mean and std, as open_clip's own preprocessing does."""
    if pixels.shape[-1] != image_size:
        pixels = F.interpolate(pixels, size=image_size, mode="bicubic", antialias=True, align_corners=False)
    mean = torch.as_tensor(mean, device=pixels.device).view(1, 3, 1, 1)
    std = torch.as_tensor(std, device=pixels.device).view(1, 3, 1, 1)
    return (pixels - mean) / std


def tokenise_texts(products: pd.DataFrame, tokenizer, per_product: int, seed: int) -> torch.Tensor:
    """[n, per_product, context] tokens: the title first, then varied attribute phrases."""
    rng = random.Random(seed)
    texts = []
    for _, row in products.iterrows():
        texts.append(row["title"])
        texts.extend(training_text(row, row["title"], rng) for _ in range(per_product - 1))
    tokens = tokenizer(texts)
    return tokens.view(len(products), per_product, -1)


def contrastive_loss(image_features, text_features, tokens, logit_scale) -> torch.Tensor:
    """Symmetric CLIP loss where pairs with identical text are all positives (no false negatives)."""
    logits = logit_scale * image_features @ text_features.T
    same_text = (tokens[:, None, :] == tokens[None, :, :]).all(-1).float()
    targets = same_text / same_text.sum(1, keepdim=True)
    return 0.5 * (torch.sum(-targets * F.log_softmax(logits, 1), 1).mean()
                  + torch.sum(-targets * F.log_softmax(logits.T, 1), 1).mean())


def learning_rate(config: EncoderTrainingConfig, progress: float) -> float:
    if progress < config.warmup_fraction:
        return config.lr * progress / config.warmup_fraction
    tail = (progress - config.warmup_fraction) / (1 - config.warmup_fraction)
    return config.lr * 0.5 * (1 + math.cos(math.pi * min(tail, 1.0)))


def make_optimizer(model, config: EncoderTrainingConfig) -> torch.optim.Optimizer:
    """AdamW with weight decay on matrices only (not norms, biases, embeddings, temperature)."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        matrix = param.ndim >= 2 and "embedding" not in name and "positional" not in name
        (decay if matrix else no_decay).append(param)
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.lr, betas=(0.9, 0.98), eps=1e-6)
