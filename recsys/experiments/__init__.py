"""A/B experiments on product cards: definition, sticky assignment, attribution, honest statistics."""
from recsys.experiments.analysis import Results, analyze
from recsys.experiments.assignment import (InMemoryAssignments, change_weights, hashed_arm, start_experiment,
                                           sticky_arm)
from recsys.experiments.attribution import Attribution, attribute
from recsys.experiments.model import Arm, Experiment, ExperimentError, Population
from recsys.experiments.report import results_table

__all__ = ["Arm", "Attribution", "Experiment", "ExperimentError", "InMemoryAssignments", "Population", "Results",
           "analyze", "attribute", "change_weights", "hashed_arm", "results_table", "start_experiment", "sticky_arm"]
