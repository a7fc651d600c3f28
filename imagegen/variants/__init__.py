"""Personalised variants: a product photo redrawn toward a taste segment, gated for fidelity, cached, labelled."""
from imagegen.variants.errors import VariantError, VariantNotFound
from imagegen.variants.gate import CandidateScore, best_candidate, score_candidates
from imagegen.variants.judge import ClipJudge, Judge
from imagegen.variants.maker import VariantMaker
from imagegen.variants.params import VariantParams
from imagegen.variants.personalize import Variant, personalize
from imagegen.variants.queue import DemandQueue, most_demanded
from imagegen.variants.slerp import slerp
from imagegen.variants.store import StoredVariant, VariantKey, VariantStore

__all__ = ["CandidateScore", "ClipJudge", "DemandQueue", "Judge", "StoredVariant", "Variant", "VariantError",
           "VariantKey", "VariantMaker", "VariantNotFound", "VariantParams", "VariantStore", "best_candidate",
           "most_demanded", "personalize", "score_candidates", "slerp"]
