"""Training the embedded CLIP on the shared TrainingLoop: contrastive steps, evaluation, its checkpoint layout, export."""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict
from pathlib import Path

import open_clip
import pandas as pd
import torch
from safetensors.torch import save_file

from features.checkpoint import CheckpointFolder
from features.encoder.clip_encoder import ClipEncoder
from features.encoder.evaluation import encoder_quality
from features.encoder.training import (EncoderTrainingConfig, PairBatches, contrastive_loss, learning_rate,
                                       make_optimizer, standardise, tokenise_texts)
from features.errors import TailorcardError
from features.image_pack import ImagePack
from features.training_loop import TrainingLoop, autocast

log = logging.getLogger("tailorcard.train.encoder")  # a child of features.logs.job_logger


class EncoderTrainer:
    """Trains `config.model` on the train part of a pack; evaluates on its held-out part."""

    def __init__(self, config: EncoderTrainingConfig, pack: ImagePack, products: pd.DataFrame, out_dir, device):
        self.config, self.out_dir, self.device = config, Path(out_dir), torch.device(device)
        torch.manual_seed(config.seed)
        self.model, _, self.preprocess = open_clip.create_model_and_transforms(config.model)
        self.model.to(self.device)
        self.tokenizer = open_clip.get_tokenizer(config.model)
        self.optimizer = make_optimizer(self.model, config)
        heldout = pack.heldout
        if heldout.all():
            raise TailorcardError(f"all {len(heldout)} products of the pack are held out; nothing to train on")
        self.train_pack, self.eval_pack = pack.select(~heldout), pack.select(heldout)
        self.eval_products = products.loc[self.eval_pack.ids[: config.eval_products]]
        self.batches = self._batches(products.loc[self.train_pack.ids])
        # the one atomic checkpoint format (features.checkpoint): weights and optimiser swapped in together
        checkpoints = CheckpointFolder(self.out_dir / "checkpoint", {"model": self.model}, {"optimizer": self.optimizer})
        # The budget spans resumed sessions: the learning-rate schedule runs on training time. The loop keeps the
        # step and the training seconds so far (run.step, run.seconds, resumed sessions included).
        self.run = TrainingLoop("encoder", checkpoints, config.minutes, logger=log, max_steps=config.max_steps,
                                checkpoint_every_s=config.checkpoint_every_s, budget_spans_sessions=True,
                                hyperparameters=asdict(config))
        self.run.every(config.eval_every_s, self.evaluate)

    def _batches(self, train_products: pd.DataFrame) -> PairBatches:
        tokens = tokenise_texts(train_products, self.tokenizer, self.config.texts_per_product, self.config.seed)
        images = torch.from_numpy(self.train_pack.images).to(self.device)
        visual = self.model.visual
        generator = torch.Generator(device=self.device).manual_seed(self.config.seed)
        return PairBatches(images, tokens.to(self.device), visual.image_mean, visual.image_std, self._image_size, generator)

    @property
    def _image_size(self) -> int:
        size = self.model.visual.image_size
        return int(size[0] if isinstance(size, (tuple, list)) else size)

    def train(self) -> dict:
        """Run until the time budget or max_steps is spent; checkpoint and evaluate on the way."""
        for step in self.run:
            self._set_learning_rate()
            loss = self._step()
            if step == 0 or (step + 1) % 50 == 0:
                log.info("step %d  %.0fs  loss %.4f  lr %.2e  scale %.1f", step + 1, self.run.seconds, loss,
                         self.optimizer.param_groups[0]["lr"], self.model.logit_scale.exp().item())
        return self.evaluate()

    def _set_learning_rate(self) -> None:
        progress = max(self.run.seconds / self.run.budget_s, self.run.step / self.config.max_steps)
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(self.config, progress)

    def _step(self) -> float:
        images, tokens = self.batches.sample(self.config.batch_size)
        with autocast(self.device):
            image_features = torch.nn.functional.normalize(self.model.encode_image(images).float(), dim=-1)
            text_features = torch.nn.functional.normalize(self.model.encode_text(tokens).float(), dim=-1)
            loss = contrastive_loss(image_features, text_features, tokens, self.model.logit_scale.exp().clamp(max=100))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.item()

    def encoder(self) -> ClipEncoder:
        return ClipEncoder(self.model, self.preprocess, self.tokenizer, space_id="training", device=self.device)

    def evaluate(self) -> dict:
        encoder = self.encoder()
        visual = self.model.visual
        photos = torch.from_numpy(self.eval_pack.images[: self.config.eval_products]).to(self.device)
        with torch.inference_mode():
            pixels = standardise(photos.permute(0, 3, 1, 2).float() / 255.0, visual.image_mean, visual.image_std,
                                 self._image_size)
            vectors = torch.cat([torch.nn.functional.normalize(self.model.encode_image(chunk).float(), dim=-1)
                                 for chunk in pixels.split(512)]).cpu().numpy()
        scores = encoder_quality(vectors, self.eval_products, lambda t: encoder.encode_texts(t, progress=False))
        self.model.train()
        log.info("eval step %d on %d held-out products: %s", self.run.step, len(vectors), json.dumps(scores))
        return scores

    def resume(self) -> bool:
        return self.run.resume()

    def export(self, folder, extra: dict | None = None) -> Path:
        """Write an open_clip local-dir folder (config + fp16 safetensors) that `local-dir:` loads."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        weights = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in self.model.state_dict().items()}
        save_file(weights, folder / "open_clip_model.safetensors")
        digest = hashlib.sha256((folder / "open_clip_model.safetensors").read_bytes()).hexdigest()[:12]
        visual = self.model.visual
        config = {
            "model_cfg": open_clip.get_model_config(self.config.model),
            "preprocess_cfg": {"size": visual.image_size, "mean": list(visual.image_mean), "std": list(visual.image_std),
                               "interpolation": "bicubic", "resize_mode": "shortest"},
            "tailorcard": {"space_id": f"{self.config.model}@{digest}", "architecture": self.config.model,
                           "steps": self.run.step, "training_seconds": round(self.run.seconds), **(extra or {})},
        }
        (folder / "open_clip_config.json").write_text(json.dumps(config, indent=2))
        return folder
