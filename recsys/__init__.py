"""Which products: taste vectors -> FAISS candidates -> ranked, filtered, explained recommendations."""
from recsys.contract import BaseRecommender, Recommendations
from recsys.index import ItemIndex, choose_factory
from recsys.items import Items
from recsys.recommender import Recommender, RecommenderConfig
from recsys.segments import TasteSegments

__all__ = ["BaseRecommender", "ItemIndex", "Items", "Recommendations", "Recommender", "RecommenderConfig",
           "TasteSegments", "choose_factory"]
