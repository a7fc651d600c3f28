"""Training the generator (autoencoder, then UNet) and the DCGAN baseline; one function per stage."""
from imagegen.training.autoencoder import train_autoencoder
from imagegen.training.export import save_generator
from imagegen.training.unet import train_unet

__all__ = ["save_generator", "train_autoencoder", "train_unet"]
