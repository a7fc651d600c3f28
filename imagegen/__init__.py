"""How to show it: images drawn from CLIP image embeddings (Kandinsky 2.2 decoder layout) and the DCGAN baseline."""
from imagegen.pipeline import Generator, GeneratorSettings, load_generator
from imagegen.spec import GeneratorSpec, check_same_space, parse_generator_spec

__all__ = ["Generator", "GeneratorSettings", "GeneratorSpec", "check_same_space", "load_generator",
           "parse_generator_spec"]
