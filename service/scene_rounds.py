"""Rounds of scenes per taste segment: results steer what is painted next (imagegen.presentation.steering).

    start_round(segment=3, winner_ids=[...], step=0.5, loser_ids=[...])   # round n + 1 of the winners' round n
    fit_round(segment=3, arms=[{"scenes": [...], "ctr": 0.061, "exposures": 5000}, ...], control_ctr=0.05)
    fit_round_from_experiment(segment=3, name="backdrop-styles")   # the same, read off the experiment's results
    condition_of(segment, round)                          # (unit condition, lineage) or (None, None)

Round 0 of a segment is painted for its centroid; round n for the condition stored here, steered from round
n - 1's condition toward the scenes that won it, and with its styles in a new order: the style that won first,
then the styles nearest what won (an arm's `round_style` j paints the j-th). Or round n + 1 is fitted to every scene
arm of round n by its click rate: it paints backdrops that add the direction fitted (lineage "aim": "added"), its
styles nearest that direction first. Each round's scenes carry their lineage in provenance.
"""
from __future__ import annotations

import time
from collections import Counter

import numpy as np
import sqlalchemy as sa

from features.images import open_image
from imagegen.errors import PresentationError
from imagegen.presentation import PresentationPolicy
from imagegen.presentation.steering import (FITS, fitted_direction, gain_noise, next_condition, next_styles,
                                             rewarded_direction)
from recsys.experiments.stats import interval_se
from service import repository
from service.db import insert_ignoring_duplicates, scene_rounds
from service.deps import deps

MAX_SCENES = 100  # scenes one arm (or the winners, or the losers) may name; the lineage keeps every id


def condition_of(segment: int, round_: int) -> tuple[np.ndarray | None, dict | None]:
    """What round `round_` of the segment is painted for, and its lineage; (None, None) when there is no such round."""
    if round_ == 0:
        return deps().live.get().segment_centroid(segment), {"round": 0}
    with deps().db.connect() as connection:
        row = connection.execute(sa.select(scene_rounds).where(
            scene_rounds.c.segment == int(segment), scene_rounds.c.round == int(round_))).mappings().first()
    if row is None:
        return None, None
    return repository.vector_from(row["condition"]), {"round": int(round_), **row["lineage"]}


def rounds_of(segment: int) -> list[dict]:
    with deps().db.connect() as connection:
        rows = connection.execute(sa.select(scene_rounds.c.round, scene_rounds.c.lineage, scene_rounds.c.created_at)
                                  .where(scene_rounds.c.segment == int(segment)).order_by(scene_rounds.c.round))
        return [{"round": 0, "condition": "the segment's centroid"}] + [
            {"round": row.round, **row.lineage, "created_at": row.created_at} for row in rows]


def start_round(segment: int, winner_ids: list[str], step: float = 0.5, loser_ids: list[str] = ()) -> dict:
    """Store the next round of `segment`, steered by the winning scenes (variant ids of one round, this segment)
    and, when given, away from what the round's losing scenes added alike (steering.rewarded_direction)."""
    store = deps().variants
    records = [store.get(variant_id) for variant_id in winner_ids]  # VariantNotFound: a 404 naming the id
    losing = [store.get(variant_id) for variant_id in loser_ids]
    parent = _round_of(records + losing, segment)
    current, parent_lineage = condition_of(segment, parent)
    if current is None:
        raise PresentationError(f"segment {segment} has no round {parent} (segments were refitted since?)")
    rewarded = rewarded_direction(*_scenes_and_photos(records), *_scenes_and_photos(losing))
    condition = next_condition(current, rewarded, step)
    lineage = {"parent_round": parent, "winners": list(winner_ids), "step": step,
               **({"losers": list(loser_ids)} if loser_ids else {})}
    centres = store.style_centres()
    if centres is not None:  # the next round's styles: the winners' first, then those nearest what won
        lineage["styles"] = next_styles(_winners_style(records, parent_lineage), rewarded, centres)
    return _store_round(segment, parent + 1, condition, lineage)


class RoundExists(PresentationError):
    """The segment already has the round asked for (rounds are never rewritten: steer from it)."""


class NothingToFit(PresentationError):
    """The experiment has measured nothing to fit in this segment yet (its control, or every scene arm, unseen)."""


class TooFewArms(PresentationError):
    """A fit between arms was asked of one arm."""


def fit_round(segment: int, arms: list[dict], control: dict, experiment: str | None = None,
              fit: str | None = None, left_out: list[dict] | None = None) -> dict:
    """Store the next round of `segment`, fitted to every scene arm of one round by what it earned: each arm is
    {"scenes": [variant ids], "ctr": its click rate, "exposures": n, "ctr_ci": [low, high] (optional)}, `control`
    the control's {"ctr", "ctr_ci" (optional)} (`experiment`: where they were measured, kept in the lineage).
    `fit` (steering.FITS) weighs the arms' gains over the control by their 95 % intervals (the control's error in
    every gain; the default where every interval is known), by their exposures (the default otherwise), or reads
    only how they differ ("between-arms"). The round paints backdrops that add the fitted direction (aim
    "added"), its styles ordered by nearness to it."""
    fit = _checked_fit(fit, arms, control)  # before any image is read or encoded
    store = deps().variants
    records = [[store.get(variant_id) for variant_id in arm["scenes"]] for arm in arms]  # VariantNotFound: a 404
    return _fit_records(segment, arms, records, control, fit, experiment, left_out)


def _fit_records(segment: int, arms: list[dict], records: list[list], control: dict, fit: str,
                 experiment: str | None, left_out: list[dict] | None) -> dict:
    """fit_round once each arm's scene records are read (`records[i]`: arm i's, in its "scenes" order)."""
    store = deps().variants
    parent = _round_of([record for scenes in records for record in scenes], segment)
    if condition_of(segment, parent)[0] is None:
        raise PresentationError(f"segment {segment} has no round {parent} (segments were refitted since?)")
    gains, exposures = [arm["ctr"] - control["ctr"] for arm in arms], [arm["exposures"] for arm in arms]
    lineage = {"parent_round": parent, "aim": "added", **({"experiment": experiment} if experiment else {}),
               "control_ctr": control["ctr"], **({"control_ci": control["ctr_ci"]} if control.get("ctr_ci") else {}),
               "fit": fit, "arms": arms, **({"left_out": left_out} if left_out else {})}
    noise = gain_noise([interval_se(arm["ctr_ci"]) for arm in arms],
                       interval_se(control["ctr_ci"])) if fit == "intervals" else None
    scenes, photos = _scenes_and_photos([record for arm in records for record in arm])  # one batch for all arms
    ends = np.cumsum([len(arm) for arm in records])[:-1]
    added = np.stack([rewarded_direction(*pair) for pair in zip(np.split(scenes, ends), np.split(photos, ends))])
    direction = fitted_direction(added, gains, exposures, between_arms=fit == "between-arms", noise=noise)
    centres = store.style_centres()
    if centres is not None:  # the round's styles, nearest the fitted direction first
        lineage["styles"] = next_styles(None, direction, centres)
    return _store_round(segment, parent + 1, direction, lineage)


def _checked_fit(fit: str | None, arms: list[dict], control: dict) -> str:
    """`fit`, or its default (None): "intervals" where every click rate's interval is known, else "exposures";
    refused where the arms cannot give what it needs."""
    known = bool(control.get("ctr_ci")) and all(arm.get("ctr_ci") for arm in arms)
    fit = fit if fit is not None else "intervals" if known else "exposures"
    if fit not in FITS:
        raise PresentationError(f"fit must be one of {list(FITS)}; got {fit!r}")
    if fit == "between-arms" and len(arms) < 2:
        raise TooFewArms(f'two scene arms at least, to fit between them ("fit": "between-arms"); got {len(arms)}')
    if fit == "intervals" and not known:
        raise PresentationError('the fit "intervals" needs each arm\'s "ctr_ci" and a "control_ci" (the intervals '
                                'it weighs by); give them, or fit by "exposures" / "between-arms"')
    return fit


def fit_round_from_experiment(segment: int, name: str, fit: str | None = None) -> dict:
    """fit_round with what experiment `name` measured in this segment: its first arm is the control, its other
    scene arms speak with their click rates, intervals and exposures here and the images they show here (every
    live product's that is made). Arms not yet shown in the segment, or none of whose images is made there yet,
    are left out, and the round's lineage says so ("left_out": [{"arm", "why"}])."""
    results = deps().experiments.results(name, detailed=False)  # ExperimentNotFound / not started: the caller maps
    rows = {row["arm"]: row for row in (results["segments"].get(str(segment)) or {}).get("arms", [])}
    control, *others = results["definition"]["arms"]
    if not (rows.get(control["name"]) or {}).get("exposures"):
        raise NothingToFit(f"experiment {name!r} has not shown its control {control['name']!r} in segment "
                                f"{segment}: no click rate to measure the scenes against")
    arms, records, left_out = [], [], []
    for arm in (arm for arm in others if arm["presentation"].get("kind") == "scene"):
        row = rows.get(arm["name"]) or {}
        scenes = _arm_scenes(segment, PresentationPolicy.from_dict(arm["presentation"])) if row.get("exposures") else []
        if scenes:
            arms.append({"arm": arm["name"], "scenes": [record.variant_id for record in scenes], **_measured(row)})
            records.append(scenes)
        else:
            left_out.append({"arm": arm["name"], "why": "not yet shown in this segment" if not row.get("exposures")
                             else "none of its scene images is made in this segment yet (they are made on demand)"})
    if not arms:
        raise NothingToFit(f"experiment {name!r} has shown no scene arm's images in segment {segment}: nothing to "
                           f"fit ({'; '.join(a['arm'] + ': ' + a['why'] for a in left_out)})")
    measured = _measured(rows[control["name"]])
    return _fit_records(segment, arms, records, measured, _checked_fit(fit, arms, measured), name, left_out)


def _measured(row: dict) -> dict:
    """An arm's click rate, its interval and exposures, as the results page has them."""
    interval = {"ctr_ci": list(row["ctr_ci"])} if row["ctr_ci"] else {}
    return {"ctr": row["ctr"], "exposures": row["exposures"], **interval}


def _arm_scenes(segment: int, policy: PresentationPolicy) -> list:
    """The records of the images a scene arm shows in this segment, one per live product that has one, at most
    MAX_SCENES spread evenly over the products: the lineage (copied into every next-round variant's provenance)
    keeps them, and the mean of a hundred says what the arm added."""
    store, live = deps().variants, deps().live.get()
    made = (store.lookup(key, product["content_hash"], str(segment), policy)
            for key, product in sorted(live.products.items()))
    shown = [record for record in made if record is not None]
    if len(shown) <= MAX_SCENES:
        return shown
    return [shown[i] for i in np.linspace(0, len(shown) - 1, MAX_SCENES).astype(int)]


def _store_round(segment: int, round_: int, condition: np.ndarray, lineage: dict) -> dict:
    with deps().db.begin() as connection:
        inserted = insert_ignoring_duplicates(connection, scene_rounds, [{
            "segment": int(segment), "round": round_, "condition": repository.vector_bytes(condition),
            "lineage": lineage, "created_at": time.time()}])
    if not inserted:
        raise RoundExists(f"segment {segment} already has round {round_}; steer from round {round_}")
    return {"segment": int(segment), "round": round_, **lineage}


def _scenes_and_photos(records) -> tuple[np.ndarray | None, np.ndarray | None]:
    """CLIP embeddings of the scenes and of their products' own photos (None, None for no scenes): those kept
    when each scene was made, else (scenes made before they were kept) encoded here."""
    if not records:
        return None, None
    store = deps().variants
    pairs = [store.embeddings(record) for record in records]
    missing = [i for i, pair in enumerate(pairs) if pair is None]
    if missing:
        for i, scene, photo in zip(missing, *_encoded([records[i] for i in missing])):
            pairs[i] = np.stack([scene, photo])
    pairs = np.stack(pairs).astype(np.float32)
    return pairs[:, 0], pairs[:, 1]


def _encoded(records) -> tuple[np.ndarray, np.ndarray]:
    """The scenes and their products' photos, CLIP-encoded from their images (each photo once, however many
    scenes show it: a fitted round's arms share their products)."""
    store, encoder = deps().variants, deps().encoder.get()
    scenes = encoder.encode_images([open_image(store.read_bytes(r.variant_id)) for r in records])
    product_ids = sorted({r.product_id for r in records})
    with deps().db.connect() as connection:
        photos = [repository.get_product(connection, product_id, with_image=True) for product_id in product_ids]
    if any(photo is None or not photo["image"] for photo in photos):
        raise PresentationError("a scene's product is gone or has no photo; pick scenes of live products")
    encoded = encoder.encode_images([open_image(photo["image"]) for photo in photos])
    row_of = {product_id: row for row, product_id in enumerate(product_ids)}
    return scenes, encoded[[row_of[r.product_id] for r in records]]


def _winners_style(records, lineage: dict) -> int | None:
    """The style most of the winners were painted in (None: painted in any style)."""
    styles = Counter(PresentationPolicy.from_dict(record.provenance["parameters"]["policy"]).painted_style(lineage)
                     for record in records)
    return styles.most_common(1)[0][0]


def _round_of(records, segment: int) -> int:
    """The one round the winners come from; they must be scenes of this segment."""
    rounds = set()
    for record in records:
        policy = (record.provenance.get("parameters") or {}).get("policy")
        if record.segment != str(segment) or not policy or policy.get("kind") != "scene":
            raise PresentationError(f"variant {record.variant_id} is not a scene of segment {segment} "
                                    f"(it is {policy and policy.get('kind')} for segment {record.segment})")
        rounds.add(PresentationPolicy.from_dict(policy).round)
    if len(rounds) != 1:
        raise PresentationError(f"the scenes named (winners, losers or arms) must come from one round; got rounds "
                                f"{sorted(rounds)}")
    return rounds.pop()
