"""A user's events as the evidence features.simulator_posterior weighs: sessions, the products viewed in
each with how many of those views were surely on-taste, and search queries. Reads SIMULATED behaviour.

In the simulator a click, add_to_cart, purchase or like only follows an on-taste view, a dislike only an
off-taste one, and a return only a purchase. So, per (session, product): on-taste views = the most of
those four events (each view is clicked at most once, and the others follow a click), plain views =
views - on-taste - dislikes (nothing followed them), and dislikes and returns say nothing about the taste.
Events without a session_id each make a session of their own product (or query).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.events import NO_ITEM
from features.simulator import _AttributeSpace
from features.simulator_truth import TruthError

ON_TASTE_SIGNS = ("click", "add_to_cart", "purchase", "like")


@dataclass
class Evidence:
    """Evidence of a batch of users. sessions: user (position in the batch), time (epoch seconds of its
    first event), sorted by user. views: session (row in sessions), item (catalogue row), plain and
    on_taste (view counts). queries: session, gender and article_type (codes) of a '<gender> <type>' search."""

    sessions: pd.DataFrame
    views: pd.DataFrame
    queries: pd.DataFrame

    @classmethod
    def of(cls, events: pd.DataFrame, user_ids: list[str], space: _AttributeSpace) -> "Evidence":
        """The evidence of distinct user_ids in events (their other events and other users' are left out)."""
        batch, users = pd.Index(user_ids), events["user_id"].astype(str)
        kept = (users.isin(batch) & (events["type"] != "return")).to_numpy()
        events = events[kept].reset_index(drop=True)
        events = events.assign(user=batch.get_indexer(users[kept]), session=_session_keys(events))
        grouped = events.groupby(["user", "session"], sort=True)
        sessions = grouped["timestamp"].min().rename("time").reset_index()
        events = events.assign(row=grouped.ngroup())  # the session's row in sessions
        searched = events["item_id"].to_numpy() == NO_ITEM
        return cls(sessions[["user", "time"]], _views(events[~searched], space), _queries(events[searched], space))


def _session_keys(events: pd.DataFrame) -> pd.Series:
    """session_id; an event without one is a session of its own product's events, or of its own query."""
    sessions = events["session_id"].astype(str) if "session_id" in events else pd.Series("", index=events.index)
    alone = ("item " + events["item_id"].astype(str)).where(
        events["item_id"] != NO_ITEM, ("query " + events.index.astype(str)).to_numpy())
    return sessions.where(sessions != "", alone)


def _views(events: pd.DataFrame, space: _AttributeSpace) -> pd.DataFrame:
    item = pd.Index(space.item_ids).get_indexer(events["item_id"].to_numpy())
    if (item < 0).any():
        unknown = events["item_id"].to_numpy()[item < 0]
        raise TruthError(f"events name {len(unknown)} product(s) outside the simulated catalogue, e.g. "
                         f"{unknown[:5].tolist()}; expected events of a simulation over it")
    counts = pd.crosstab([events["row"].to_numpy(), item], events["type"].to_numpy(),
                         rownames=["session", "item"], colnames=["type"])
    counts = counts.reindex(columns=["view", "dislike", *ON_TASTE_SIGNS], fill_value=0)
    on_taste = counts[list(ON_TASTE_SIGNS)].max(axis=1)
    plain = (counts["view"] - on_taste - counts["dislike"]).clip(lower=0)
    views = pd.DataFrame({"plain": plain, "on_taste": on_taste}).reset_index()
    return views[(views["plain"] > 0) | (views["on_taste"] > 0)].reset_index(drop=True)


def _queries(events: pd.DataFrame, space: _AttributeSpace) -> pd.DataFrame:
    """Searches as the simulator types them: '<gender> <mission article type>', lower case."""
    events = events[events["query"].astype(str) != ""] if "query" in events else events.iloc[:0]
    genders, types = space.values["gender"], space.values["articleType"]
    g, t = np.meshgrid(np.arange(len(genders)), np.arange(len(types)), indexing="ij")
    spellings = [f"{a} {b}".lower() for a, b in zip(genders[g.ravel()], types[t.ravel()])]
    spelled = pd.Series(np.arange(g.size), index=spellings)
    spelled = spelled[~spelled.index.duplicated()]  # an ambiguous spelling reads as its first pair
    found = spelled.reindex(events["query"].astype(str).str.lower()).fillna(-1).to_numpy(dtype=int)
    if (found < 0).any():
        raise TruthError(f"search queries {events['query'].to_numpy()[found < 0][:3].tolist()} are not "
                         f"'<gender> <article type>' of this catalogue; expected the simulator's searches")
    return pd.DataFrame({"session": events["row"].to_numpy(), "gender": g.ravel()[found],
                         "article_type": t.ravel()[found]})
