"""The DCGAN baseline: shapes at every layer, and the three bugs of the source document's version."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from features.image_pack import ImagePack
from imagegen.errors import TrainingError
from lab.dcgan import (DCGANConfig, DCGANDiscriminator, DCGANGenerator, load_dcgan_generator,
                       sample_dcgan, save_dcgan_generator)
from lab.dcgan_training import discriminator_step, generator_step, train_dcgan

SMALL = DCGANConfig(latent_dim=8, generator_width=4, discriminator_width=4)


def _spatial_sizes(blocks, x):
    sizes = []
    for block in blocks:
        x = block(x)
        sizes.append(tuple(x.shape[-2:]))
    return sizes


def test_generator_grows_1_to_64_pixels_layer_by_layer():
    generator = DCGANGenerator(SMALL).eval()
    z = torch.randn(2, SMALL.latent_dim)
    sizes = _spatial_sizes(generator.net, z[:, :, None, None])
    assert sizes == [(4, 4), (8, 8), (16, 16), (32, 32), (64, 64), (64, 64)]  # last: tanh
    assert generator(z).shape == (2, 3, 64, 64)  # not 32x32, as the source's generator made


def test_discriminator_shrinks_64_to_one_logit_per_image():
    discriminator = DCGANDiscriminator(SMALL).eval()
    sizes = _spatial_sizes(discriminator.net, torch.randn(3, 3, 64, 64))
    assert sizes == [(32, 32), (32, 32), (16, 16), (8, 8), (4, 4), (1, 1)]  # second: LeakyReLU


def test_discriminator_output_matches_the_label_tensor():
    generator, discriminator = DCGANGenerator(SMALL), DCGANDiscriminator(SMALL)
    fake = generator(torch.randn(5, SMALL.latent_dim))
    logits, labels = discriminator(fake), torch.ones(5)
    assert logits.shape == labels.shape  # the source's D output did not match its labels
    F.binary_cross_entropy_with_logits(logits, labels)  # would raise on a shape mismatch


def _weights(module):
    return [p.detach().clone() for p in module.parameters()]


def _changed(before, module):
    return any(not torch.equal(b, p) for b, p in zip(before, module.parameters()))


def test_generator_step_runs_and_updates_only_the_generator():
    generator, discriminator = DCGANGenerator(SMALL), DCGANDiscriminator(SMALL)
    optimizer = torch.optim.Adam(generator.parameters(), lr=1e-2)
    g_before, d_before = _weights(generator), _weights(discriminator)
    loss = generator_step(generator, discriminator, optimizer, torch.randn(4, SMALL.latent_dim))
    assert torch.isfinite(loss)
    assert _changed(g_before, generator) and not _changed(d_before, discriminator)


def test_discriminator_step_updates_only_the_discriminator():
    generator, discriminator = DCGANGenerator(SMALL), DCGANDiscriminator(SMALL)
    optimizer = torch.optim.Adam(discriminator.parameters(), lr=1e-2)
    g_before, d_before = _weights(generator), _weights(discriminator)
    real = torch.rand(4, 3, 64, 64) * 2 - 1
    discriminator_step(generator, discriminator, optimizer, real, torch.randn(4, SMALL.latent_dim))
    assert _changed(d_before, discriminator) and not _changed(g_before, generator)


def _pack(size, n=12):
    rng = np.random.default_rng(0)
    return ImagePack(np.arange(n, dtype=np.int64), rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8))


def test_one_training_step_exports_a_loadable_generator(tmp_path):
    trained = train_dcgan(_pack(64), tmp_path / "run", minutes=1, max_steps=1, batch_size=4, config=SMALL,
                          progress=False, export_dir=tmp_path / "dcgan")
    assert (tmp_path / "run" / "dcgan" / "checkpoint" / "state.json").is_file()
    loaded = load_dcgan_generator(tmp_path / "dcgan")
    for original, reloaded in zip(trained.state_dict().values(), loaded.state_dict().values()):
        assert torch.allclose(original.float().half().float(), reloaded.float())  # stored as fp16
    images = sample_dcgan(loaded, 3)
    assert images.shape == (3, 64, 64, 3) and images.dtype == np.uint8


def test_a_pack_of_the_wrong_size_is_refused(tmp_path):
    with pytest.raises(TrainingError, match="32x32"):
        train_dcgan(_pack(32), tmp_path, minutes=1, max_steps=1, config=SMALL, progress=False)


def test_saved_weights_are_fp16(tmp_path):
    save_dcgan_generator(DCGANGenerator(SMALL), tmp_path)
    from safetensors.torch import load_file
    floats = [t for t in load_file(tmp_path / "generator.safetensors").values() if t.is_floating_point()]
    assert floats and all(t.dtype == torch.float16 for t in floats)
