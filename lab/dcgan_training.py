"""Train the DCGAN baseline as the paper does: Adam lr 2e-4, betas (0.5, 0.999), alternating D and G steps."""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from features.image_pack import ImagePack
from features.training_loop import autocast
from imagegen.errors import TrainingError
from imagegen.training.data import random_batch, training_images
from imagegen.training.run import TrainingRun, prepare_device
from lab.dcgan import DCGANConfig, DCGANDiscriminator, DCGANGenerator, init_weights, save_dcgan_generator

STAGE = "dcgan"
ADAM = {"lr": 2e-4, "betas": (0.5, 0.999)}


def train_dcgan(pack: ImagePack, out_dir: str | Path, minutes: float, device: str | torch.device = "cpu", *,
                batch_size: int = 128, config: DCGANConfig | None = None, resume: bool = False,
                max_steps: int | None = None, log_every: int = 100, checkpoint_every_s: float = 30.0,
                progress: bool = True, seed: int = 0, export_dir: str | Path | None = None) -> DCGANGenerator:
    """Train for `minutes`; checkpoints in out_dir/dcgan; the generator is also saved to `export_dir`."""
    out_dir, device = Path(out_dir), prepare_device(device, seed)
    config = config or DCGANConfig()
    if pack.size != config.image_size:
        raise TrainingError(f"the DCGAN makes {config.image_size}x{config.image_size} images; "
                            f"the image pack holds {pack.size}x{pack.size} (build it with size={config.image_size})")
    images = training_images(pack, device)
    generator, discriminator = DCGANGenerator(config).to(device), DCGANDiscriminator(config).to(device)
    generator.apply(init_weights)
    discriminator.apply(init_weights)
    optimizers = {"optimizer_g": torch.optim.Adam(generator.parameters(), **ADAM),
                  "optimizer_d": torch.optim.Adam(discriminator.parameters(), **ADAM)}
    run = TrainingRun(out_dir / STAGE, {"generator": generator, "discriminator": discriminator}, optimizers,
                      minutes, resume=resume, max_steps=max_steps, checkpoint_every_s=checkpoint_every_s,
                      log_every=log_every, progress=progress, log_file=out_dir / "train.log",
                      hyperparameters={"batch_size": batch_size, "config": config, "seed": seed})
    for step in run:
        real = random_batch(images, batch_size)
        z = torch.randn(batch_size, config.latent_dim, device=device)
        loss_d = discriminator_step(generator, discriminator, optimizers["optimizer_d"], real, z)
        loss_g = generator_step(generator, discriminator, optimizers["optimizer_g"], z)
        run.log(step, loss_d=loss_d, loss_g=loss_g)
    save_dcgan_generator(generator.eval(), export_dir or out_dir / "dcgan-generator")
    return generator


def discriminator_step(generator, discriminator, optimizer, real: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Push D(real) toward 1 and D(G(z)) toward 0; G is not updated here."""
    with autocast(real.device):
        fake = generator(z).detach()
        logits_real, logits_fake = discriminator(real).float(), discriminator(fake).float()
    loss = (F.binary_cross_entropy_with_logits(logits_real, torch.ones_like(logits_real))
            + F.binary_cross_entropy_with_logits(logits_fake, torch.zeros_like(logits_fake)))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()


def generator_step(generator, discriminator, optimizer, z: torch.Tensor) -> torch.Tensor:
    """The non-saturating G loss: push D(G(z)) toward 1. Only G's optimizer steps."""
    with autocast(z.device):
        logits = discriminator(generator(z)).float()
    loss = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()
