"""Data in, vectors out: catalogue, events, the CLIP encoder, preference vectors, simulation."""
