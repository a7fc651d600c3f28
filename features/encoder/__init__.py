"""The CLIP encoder: images and texts into one L2-normalised vector space."""
from features.encoder.clip_encoder import ClipEncoder, load_encoder
from features.encoder.spec import EncoderSpec, parse_encoder_spec

__all__ = ["ClipEncoder", "EncoderSpec", "load_encoder", "parse_encoder_spec"]
