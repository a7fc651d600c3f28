"""Configs and settings check every field (type and range) and refuse unknown fields when read from JSON:
a bad value is named where it is given, not met later as a ZeroDivisionError or silently dropped."""
from __future__ import annotations

import json
from dataclasses import fields, replace

import numpy as np
import pytest

from features.encoder.training import EncoderTrainingConfig
from features.errors import ModelSpecError
from features.preferences import DEFAULT_WEIGHTS, PreferenceConfig, PreferenceError
from features.simulator import SimulatorConfig, SimulatorError
from imagegen.errors import PresentationError
from imagegen.pipeline import SETTINGS_FILE, GeneratorSettings
from imagegen.presentation import PresentationPolicy
from lab.dcgan import CONFIG_FILE, DCGANConfig, DCGANGenerator, load_dcgan_generator, save_dcgan_generator
from lab.experiment_simulation import ShopperModel
from recsys.experiments import ExperimentError
from recsys.recommender import Recommender, RecommenderConfig, RecommenderError

IDS = np.arange(8)
VECTORS = np.eye(8, dtype=np.float32)


def test_interests_0_is_refused_by_name_before_any_recommendation():
    with pytest.raises(RecommenderError, match=r"RecommenderConfig.interests must be an integer >= 1; got 0"):
        Recommender.from_vectors(IDS, VECTORS, config=RecommenderConfig(interests=0))


@pytest.mark.parametrize("name", [f.name for f in fields(RecommenderConfig)])
def test_every_recommender_config_field_is_checked(name):
    with pytest.raises(RecommenderError, match=rf"RecommenderConfig.{name} must be .*; got 'nonsense'"):
        replace(RecommenderConfig(), **{name: "nonsense"}).check_inputs()


@pytest.mark.parametrize("name, value", [("candidates", True), ("mmr_lambda", float("nan")), ("mmr_lambda", 1.5),
                                         ("popularity_half_life_days", 0), ("temperature", -0.1), ("covisit_fade", 0),
                                         ("popularity_weight", float("inf")), ("covisit_scope", ["session"])])
def test_recommender_config_ranges(name, value):
    with pytest.raises(RecommenderError, match=f"RecommenderConfig.{name} must be"):
        RecommenderConfig(**{name: value}).check_inputs()


def test_recommender_config_takes_its_documented_nones_and_numpy_numbers():
    RecommenderConfig(temperature=None, covisit_fade=None, interests=np.int64(2), mmr_lambda=np.float64(0.5)).check_inputs()


def write_settings(folder, **values) -> None:
    (folder / SETTINGS_FILE).write_text(json.dumps({"space_id": "test", "embed_dim": 16, **values}))


def test_an_unknown_key_in_a_generator_settings_file_is_refused_by_name(tmp_path):
    write_settings(tmp_path, guidance=2.0)
    with pytest.raises(ModelSpecError, match=rf"{SETTINGS_FILE} has unknown field\(s\) \['guidance'\]; "
                                             r"expected some of \['space_id', 'embed_dim', .*'guidance_scale'.*\]"):
        GeneratorSettings.load(tmp_path, unet_config=None)


@pytest.mark.parametrize("values, words", [({"embed_dim": 0}, "embed_dim must be an integer >= 1; got 0"),
                                           ({"sampler": "euler"}, "sampler must be one of ['ddim', 'ddpm', 'dpm++']"),
                                           ({"image_size": 60}, "image_size must be a multiple of 8"),
                                           ({"guidance_scale": -1}, "guidance_scale must be a number >= 0; got -1"),
                                           ({"space_id": ""}, "space_id must be a non-empty embedding space id")])
def test_bad_generator_settings_are_refused_with_the_file_named(tmp_path, values, words):
    write_settings(tmp_path, **values)
    with pytest.raises(ModelSpecError) as refused:
        GeneratorSettings.load(tmp_path, unet_config=None)
    assert str(refused.value).startswith(str(tmp_path / SETTINGS_FILE)) and words in str(refused.value)


def test_a_generator_settings_file_without_its_space_is_refused(tmp_path):
    (tmp_path / SETTINGS_FILE).write_text(json.dumps({"embed_dim": 16}))
    with pytest.raises(ModelSpecError, match=r"lacks field\(s\) \['space_id'\]"):
        GeneratorSettings.load(tmp_path, unet_config=None)
    assert GeneratorSettings("test", 16).image_size == 64  # the defaults pass their own checks


def test_a_dcgan_config_file_with_an_unknown_key_is_refused(tmp_path):
    config = DCGANConfig(latent_dim=8, generator_width=4, discriminator_width=4)
    save_dcgan_generator(DCGANGenerator(config), tmp_path)
    (tmp_path / CONFIG_FILE).write_text(json.dumps({"latent_dim": 8, "generator_width": 4, "ngf": 4}))
    with pytest.raises(ModelSpecError, match=r"unknown field\(s\) \['ngf'\]"):
        load_dcgan_generator(tmp_path)
    with pytest.raises(ModelSpecError, match="DCGANConfig.image_size must be 64"):
        DCGANConfig(image_size=32)


@pytest.mark.parametrize("name, value", [("kind", "recolour"), ("seed", -1), ("guidance_scale", -1.0),
                                         ("num_inference_steps", 2.5), ("backdrop_blur", float("nan"))])
def test_a_presentation_policy_checks_every_field(name, value):
    with pytest.raises(PresentationError, match=f"PresentationPolicy.{name} must be"):
        PresentationPolicy(**{name: value})


@pytest.mark.parametrize("name, value", [("base_ctr", "0.1"), ("concentration", 0), ("pre_period_cards", 2.5),
                                         ("lifts", {"treatment": -1.0}), ("lifts", [0.1])])
def test_the_simulated_shopper_model_checks_every_field(name, value):
    with pytest.raises(ExperimentError, match=f"ShopperModel.{name} must be"):
        ShopperModel(**{name: value}).check_inputs()


@pytest.mark.parametrize("change, field", [
    ({"half_life_days": float("nan")}, "half_life_days"),
    ({"half_life_days": 0}, "half_life_days"),
    ({"query_weight": float("inf")}, "query_weight"),
    ({"query_weight": "2"}, "query_weight"),
    ({"event_weights": {**DEFAULT_WEIGHTS, "view": "1"}}, "event_weights"),
    ({"event_weights": {**DEFAULT_WEIGHTS, "add-to-cart": 4.0}}, "event_weights"),
    ({"event_weights": {"view": 1.0}}, "event_weights"),
])
def test_every_preference_config_field_is_checked(change, field):
    with pytest.raises(PreferenceError, match=f"PreferenceConfig.{field} must be"):
        PreferenceConfig(**change).check_inputs()


@pytest.mark.parametrize("change, field", [
    ({"seed": -1}, "seed"), ({"start": "someday"}, "start"), ({"days": float("nan")}, "days"),
    ({"types_per_user": 0}, "types_per_user"), ({"popularity_skew": -1}, "popularity_skew"),
    ({"click_rate": 1.5}, "click_rate"), ({"n_users": 0}, "n_users"),
])
def test_every_simulator_config_field_is_checked(change, field):
    with pytest.raises(SimulatorError, match=f"SimulatorConfig.{field} must be"):
        SimulatorConfig(**change).check_inputs()


@pytest.mark.parametrize("change, field", [({"batch_size": 1}, "batch_size"), ({"lr": 0}, "lr"),
                                           ({"minutes": float("inf")}, "minutes"), ({"max_steps": 0}, "max_steps")])
def test_every_encoder_training_field_is_checked(change, field):
    with pytest.raises(ModelSpecError, match=f"EncoderTrainingConfig.{field} must be"):
        EncoderTrainingConfig(**change)
