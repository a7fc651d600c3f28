"""The training loop of the embedded CLIP: time budget, checkpoints, resume, export."""
from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict
from pathlib import Path

import open_clip
import pandas as pd
import torch
from safetensors.torch import load_file, save_file

from features.encoder.clip_encoder import ClipEncoder
from features.encoder.evaluation import encoder_quality
from features.encoder.training import (EncoderTrainingConfig, PairBatches, contrastive_loss, learning_rate,
                                       make_optimizer, standardise, tokenise_texts)
from features.errors import TailorcardError
from features.image_pack import ImagePack

log = logging.getLogger("tailorcard.train_encoder")


class EncoderTrainer:
    """Trains `config.model` on the train part of a pack; evaluates on its held-out part."""

    def __init__(self, config: EncoderTrainingConfig, pack: ImagePack, products: pd.DataFrame, out_dir, device):
        self.config, self.out_dir, self.device = config, Path(out_dir), torch.device(device)
        torch.manual_seed(config.seed)
        self.model, _, self.preprocess = open_clip.create_model_and_transforms(config.model)
        self.model.to(self.device)
        self.tokenizer = open_clip.get_tokenizer(config.model)
        self.optimizer = make_optimizer(self.model, config)
        self.step, self.elapsed = 0, 0.0
        heldout = pack.heldout
        if heldout.all():
            raise TailorcardError(f"all {len(heldout)} products of the pack are held out; nothing to train on")
        self.train_pack, self.eval_pack = pack.select(~heldout), pack.select(heldout)
        self.eval_products = products.loc[self.eval_pack.ids[: config.eval_products]]
        self.batches = self._batches(products.loc[self.train_pack.ids])

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
        budget = self.config.minutes * 60
        last_checkpoint = last_eval = started = time.monotonic() - self.elapsed
        autocast = torch.autocast("cuda", dtype=torch.bfloat16) if self.device.type == "cuda" else torch.autocast("cpu", enabled=False)
        while self.elapsed < budget and self.step < self.config.max_steps:
            progress = max(self.elapsed / budget, self.step / self.config.max_steps)
            for group in self.optimizer.param_groups:
                group["lr"] = learning_rate(self.config, progress)
            loss = self._step(autocast)
            self.step += 1
            now = time.monotonic()
            self.elapsed = now - started
            if self.step % 50 == 0 or self.step == 1:
                log.info("step %d  %.0fs  loss %.4f  lr %.2e  scale %.1f", self.step, self.elapsed, loss,
                         self.optimizer.param_groups[0]["lr"], self.model.logit_scale.exp().item())
            if now - last_checkpoint >= self.config.checkpoint_every_s:
                self.save_checkpoint()
                last_checkpoint = now
            if now - last_eval >= self.config.eval_every_s:
                self.evaluate()
                last_eval = now
        self.save_checkpoint()
        return self.evaluate()

    def _step(self, autocast) -> float:
        images, tokens = self.batches.sample(self.config.batch_size)
        with autocast:
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
        log.info("eval step %d on %d held-out products: %s", self.step, len(vectors), json.dumps(scores))
        return scores

    def save_checkpoint(self) -> None:
        """Model, optimiser and progress, written beside the old ones then swapped in."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        save_file(self.model.state_dict(), self.out_dir / "checkpoint.safetensors.tmp")
        torch.save(self.optimizer.state_dict(), self.out_dir / "optimizer.pt.tmp")
        (self.out_dir / "checkpoint.safetensors.tmp").replace(self.out_dir / "checkpoint.safetensors")
        (self.out_dir / "optimizer.pt.tmp").replace(self.out_dir / "optimizer.pt")
        state = {"step": self.step, "elapsed": self.elapsed, "config": asdict(self.config)}
        (self.out_dir / "state.json").write_text(json.dumps(state, indent=2))
        log.info("checkpoint at step %d (%.0fs)", self.step, self.elapsed)

    def resume(self) -> bool:
        if not (self.out_dir / "state.json").exists():
            return False
        state = json.loads((self.out_dir / "state.json").read_text())
        self.model.load_state_dict(load_file(self.out_dir / "checkpoint.safetensors", device=str(self.device)))
        self.optimizer.load_state_dict(torch.load(self.out_dir / "optimizer.pt", map_location=self.device))
        self.step, self.elapsed = state["step"], state["elapsed"]
        log.info("resumed at step %d (%.0fs)", self.step, self.elapsed)
        return True

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
                           "steps": self.step, "training_seconds": round(self.elapsed), **(extra or {})},
        }
        (folder / "open_clip_config.json").write_text(json.dumps(config, indent=2))
        return folder
