"""The defaults a fresh install runs with, in one place: every `tailorcard` command's default model specs, paths
and numbers that more than one command shares, and the app's default encoder.

A default path is either the shipped data (under data_dir(), read only) or relative to where the command runs
(runs/, instance/, var/); none points outside the installed project, and nothing a command writes defaults to a
place under data/: the shipped files are replaced only when a command is given a path there.
"""
from __future__ import annotations

from pathlib import Path

from features.model_spec import data_dir

DEFAULT_MODEL = "embedded"  # the spec every model option defaults to: the shipped model of its kind (model_spec.EMBEDDED)
DEFAULT_SEED = 0  # the seed of every bench, simulation and training run unless given: the documented numbers' seed
SEGMENTS = 8  # taste segments (k-means) a served store, `bench service` and `bench presentation` split into

SAMPLE_CATALOGUE = data_dir() / "catalogue"  # the shipped sample catalogue (2,000 fashion-small products, photos)
DCGAN_DIR = data_dir() / "models" / "dcgan"  # the shipped DCGAN baseline that `bench generator` compares with

RUNS = Path("runs")  # what training runs, benches and simulations write goes below here (relative to the cwd)
ENCODER_RUN = RUNS / "encoder"  # `train-encoder`'s folder: checkpoint, image pack, train.log
GENERATOR_RUN = RUNS / "generator"  # `train-generator`'s folder (and `train-dcgan`'s: its checkpoints in OUT/dcgan)
SCENE_RUN = RUNS / "scene"  # `train-scene`'s folder: composites, checkpoints, train.log, model/
SCENE_MOVQ_IMAGES = 8192  # composites a scene run's autoencoder is fine-tuned on, each with its backdrop alone
MATTE_RUN = RUNS / "matte"  # `train-matte`'s folder: pseudo-masked products, checkpoints, train.log, model/
UPSCALER_RUN = RUNS / "upscale"  # `train-upscaler`'s folder: decoded photos, checkpoints, train.log, model/
EMBEDDINGS_CACHE = RUNS / "embeddings"  # the lab's embedding stores, one a catalogue and embedding space
BENCH_SERVICE_INSTANCE = RUNS / "bench-service"  # `bench service`'s instance (database, keys), reset every run
SIMULATE_LOOP_RUN = RUNS / "simulate-loop"  # `simulate-loop`'s database folder, emptied every run
SHOTS_DIR = RUNS / "shots"  # where `storefront-shots` writes its screenshots

INSTANCE_DIR = Path("instance")  # the served instance: api_keys.json, the SQLite database, config.json
EMBEDDING_STORE = Path("var/embeddings.npz")  # the embedding store `embed` fills

HOST = "localhost"  # where `serve` listens ...
PORT = 8000  # ... and on which port
SERVICE_URL = f"http://{HOST}:{PORT}"  # the instance `serve` starts by default, as clients (storefront-shots) reach it
