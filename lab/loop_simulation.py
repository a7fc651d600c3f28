"""`tailorcard simulate-loop`: SIMULATED shoppers, a bandit over scene arms, and rounds of regeneration, all through
the real API (cards, events, experiments, results, segment rounds) on a small real catalogue.

Hidden from the loop: each taste segment likes one kind of backdrop. Its liking is a direction in CLIP space,
what a plain backdrop of the segment's secret colour adds to a product's embedding (averaged over products); a
card's liking is the cosine between what its backdrop added (card minus the product's own photo) and that
direction. A shopper clicks a scene card with probability BASE_CTR * (1 + LIFT * max(0, liking)); the photo
(the control) has liking 0.

Traffic: many shoppers (3,000 by default), each visiting a few times a round, as on a store; a bandit keeps a
shopper's draw for its decision window, so a few shoppers visiting thousands of times would be a few draws.
Time is simulated (service.clock.ManualClock, handed to the app): the store gets a cards request every
SECONDS_BETWEEN_REQUESTS (20 a second), a click is stamped half-way to the next request (after the exposure it
answers, before that shopper's next visit), and the bandit's counts refresh every 5 simulated seconds (about
100 requests). Decisions, exposures and refreshes follow that clock, not the machine's, so a run gives the same
numbers on any machine at any speed (the wall-clock runs before 2026-12-06 did not).

Each round: an experiment in bandit mode over the photo (control) and CANDIDATES scene arms of the round, each
a scene style for the segment (a cluster of the generator's backdrops; arms that differed by noise seed had
true decision click rates within 0.5-0.8 points of each other in every segment, the same scene again, which no
bandit tells apart in thousands of decisions; styles spread 0.1-2.9 points): arm j paints style j in every
round, or with `--styles follow` the round's j-th style (policy `round_style`: round 0's
styles in order, a steered round's the winner's style first, then the styles nearest what won; two seeds
disagree on which ends higher, docs/benchmarks.md);
DECISIONS cards requests per segment, clicks posted as events; then per segment the round's winner, the
bandit's leader among the scene arms at the round's end, steers the segment's next round with its cards
(POST /v1/segments/<s>/rounds; until 2026-12-06 the most-played scene arm, which lags); with `--steering fit`
every scene arm's cards steer it, each with its click rate, interval and exposures in that segment: the loop
posts {"experiment": the round's name}, as the results page's button does (until 2026-12-07 its own numbers read
off the results page), and the rounds API fits the direction they reward; `--steer-by oracle`
steers toward the truly best scene arm instead (fitted: by the true rates), a ceiling no service can reach.
Every decision, with what each arm would have earned, is written to FOLDER/decisions-round-<n>.csv. Reported:
  lift_round_1, lift_final    expected click rate of the scene cards served, over the control's, minus 1
  best_arm_found_rate         (segment, round) pairs whose most-played arm is the truly best one
  winner_is_best_scene_rate   (segment, round) pairs whose winner (round_winner: what steers the next round) is
                              the truly best scene arm
  missed_best_by              for each pair whose most-played arm is not the best: the best arm's true decision
                              click rate minus the most-played one's (what the miss cost; near-ties cannot be
                              told apart)
  regret_vs_oracle            1 - the expected click rate served / the best arm's, over all decisions
  aa_false_winner_rate        A/A experiments (two identical photo arms): segments in which a winner was declared
  ips_error                   |off-policy IPS estimate - true decision click rate|, averaged over arms and rounds
                              (snips_error, dr_error: the same for self-normalised IPS and doubly robust;
                              ips_coverage: the share of IPS's 95 % intervals that hold the true rate)
"""
from __future__ import annotations

import io
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from lab.catalogues import copy_sample_catalogue

LIFT, BASE_CTR = 1.0, 0.05
PROGRESS_EVERY = 1000  # decisions between two lines of the run's log
SIMULATED_START = 1_800_000_000.0  # 2027-01-15 08:00 UTC: the simulated clock's first reading, the same every run


@dataclass
class LoopConfig:
    products: int = 16
    segments: int = 3
    shoppers: int = 3000  # SIMULATED shoppers; many, so that each visits a few times a round, as on a real store
    rounds: int = 3  # 0: the A/A experiments alone
    candidates: int = 3  # scene arms per round: styles 0, 1, ... (imagegen.scene.bank) for the same segment
    decisions: int = 400  # cards requests per segment per round
    cards: int = 4  # cards per request
    aa_experiments: int = 10
    aa_decisions: int = 200  # cards requests per segment in each A/A experiment
    step: float = 0.5
    min_share: float | None = None  # the bandit's exploration floor per arm (None: the service's default)
    seconds_between_requests: float = 0.05  # simulated time between two cards requests of the store
    steer_by: str = "leader"  # "leader": the round's winner as analysts read it; "oracle": the truly best scene arm
    styles: str = "fixed"  # "fixed": style j every round; "follow": arm j paints the round's j-th style (round_style)
    with_losers: bool = False  # steering is also given the round's other scene arms' images, as losers
    steering: str = "winner"  # "winner": the winning arm's images steer; "fit": every scene arm's, by its click rate
    fit: str = "exposures"  # fitted steering: how the arms' gains are weighed (service.scene_rounds.fit_round)
    seed: int = 0


class LoopLab:
    """The app, its keys and what the simulation knows (embeddings of every image, the hidden likings)."""

    def __init__(self, folder: Path, config: LoopConfig, scene_spec: str, encoder_spec: str, log=print):
        from features.catalogue import load_catalogue
        from features.encoder import load_encoder
        from service.app import create_app
        from service.auth import new_key
        from service.bootstrap import seed
        from service.clock import ManualClock
        from service.db import create_or_upgrade, make_engine
        self.config, self.log, self.rng = config, log, np.random.default_rng(config.seed)
        self.clock = ManualClock(SIMULATED_START)
        catalogue_dir = copy_sample_catalogue(folder / "catalogue", config.products)
        self.encoder = load_encoder(encoder_spec, device="cpu")
        engine = make_engine(f"sqlite:///{folder}/loop.sqlite")
        create_or_upgrade(engine)
        seed(engine, load_catalogue(catalogue_dir), self.encoder, None, config.shoppers, config.segments, config.seed)
        engine.dispose()
        analyst, storefront = new_key("analyst"), new_key("storefront")
        self.app = create_app({"DATABASE_URL": f"sqlite:///{folder}/loop.sqlite", "JOB_QUEUE": "none",
                               "ENCODER": self.encoder, "CLOCK": self.clock, "VARIANTS": scene_spec, "VARIANT_MIN_DEMAND": 1,
                               "API_KEYS": [analyst, storefront], "RATE_LIMIT_PER_SECOND": 1e6,
                               "RATE_LIMIT_BURST": 10**6}, instance_path=folder / "instance")
        self.client = self.app.test_client()
        self.analyst = {"Authorization": f"Bearer {analyst['key']}"}
        self.storefront = {"Authorization": f"Bearer {storefront['key']}"}
        self.embeddings: dict[str, np.ndarray] = {}  # image url -> unit CLIP embedding

    def call(self, method: str, url: str, headers: dict, body=None) -> dict:
        response = self.client.open(url, method=method, headers=headers, json=body)
        if response.status_code not in (200, 201, 202):
            raise RuntimeError(f"{method} {url} -> {response.status_code}: {response.get_data(as_text=True)[:300]}")
        return response.get_json()

    def embedding(self, url: str) -> np.ndarray:
        if url not in self.embeddings:
            image = Image.open(io.BytesIO(self.client.get(url).data)).convert("RGB")
            self.embeddings[url] = self.encoder.encode_images([image])[0]
        return self.embeddings[url]

    def product_photos(self) -> dict[str, Image.Image]:
        """Every product's own photo as the API serves it, by its image url, in product key order."""
        with self.app.app_context():
            products = self.app.extensions["tailorcard"].live.get().products
        urls = [f"/v1/items/{products[key]['id']}/image" for key in sorted(products)]
        return {url: Image.open(io.BytesIO(self.client.get(url).data)).convert("RGB") for url in urls}

    def shoppers_by_segment(self) -> dict[int, list[str]]:
        """Every simulated shopper, by taste segment. A bandit keeps a shopper's draw for its decision window (an
        hour), so a few shoppers visiting thousands of times would be a few draws, not thousands of decisions."""
        from service.deps import deps
        from service.repository import list_users
        with self.app.app_context():
            with deps().db.connect() as connection:
                users = [u["user_id"] for u in list_users(connection, self.config.shoppers)]
            live = self.app.extensions["tailorcard"].live.get()
            segment_of = {user: live.segment_of(user) for user in users}
        return {s: [u for u in users if segment_of[u] == s] for s in sorted(set(segment_of.values()))}


def secret_colours(lab: LoopLab, segments: list[int]) -> dict[int, tuple[int, int, int]]:
    """Per segment, the colour of the backdrop its shoppers like, drawn from the lab's random stream."""
    return {segment: tuple(int(c) for c in lab.rng.integers(0, 256, 3)) for segment in segments}


def hidden_likings(lab: LoopLab, segments: list[int], colours: dict | None = None) -> dict[int, np.ndarray]:
    """Per segment, the CLIP direction a backdrop of its secret colour (`colours`; None: drawn now) adds to the
    products (unknown to the loop)."""
    from features.vectors import unit_rows
    colours = colours or secret_colours(lab, segments)
    photos = list(lab.product_photos().values())
    own = lab.encoder.encode_images(photos)
    likings = {}
    for segment in segments:
        backdropped = [_on_backdrop(photo, colours[segment]) for photo in photos]
        likings[segment] = unit_rows((lab.encoder.encode_images(backdropped) - own).mean(axis=0))[0]
    return likings


def _on_backdrop(photo: Image.Image, colour) -> Image.Image:
    """The product over a plain backdrop: pixels near the photo's corner colour are replaced (a studio photo)."""
    pixels = np.asarray(photo).astype(np.int16)
    backdrop = np.median(np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]]), axis=0)
    plain = np.abs(pixels - backdrop).sum(axis=-1) < 40
    out = np.asarray(photo).copy()
    out[plain] = colour
    return Image.fromarray(out)


def scene_policies(config: LoopConfig, round_: int) -> list[dict]:
    """Arm j's presentation: the round's j-th style (steering puts the winner's first, then the styles nearest
    what won), or style j in every round (`styles="fixed"`, the runs before 2026-12-07)."""
    field = "round_style" if config.styles == "follow" else "style"
    return [{"kind": "scene", field: j, "round": round_} for j in range(config.candidates)]


def make_round_images(lab: LoopLab, segments: list[int], policies: list[dict]) -> None:
    """Every image the round can show, made ahead (as demand would make them), so no card shows a stand-in."""
    from imagegen.presentation import UPSCALED, PresentationPolicy
    from service.generation import request_variant
    with lab.app.app_context():
        live = lab.app.extensions["tailorcard"].live.get()
        for key, product in live.products.items():
            request_variant(key, product["content_hash"], "all", UPSCALED, wanted=True)
            for segment in segments:
                for policy in policies:
                    request_variant(key, product["content_hash"], str(segment), PresentationPolicy.from_dict(policy),
                                    wanted=True)
    while lab.app.extensions["tailorcard"].jobs.run_pending():
        pass


def image_url(lab: LoopLab, key: int, segment: int, policy: dict) -> str | None:
    from imagegen.presentation import PresentationPolicy
    with lab.app.app_context():
        product = lab.app.extensions["tailorcard"].live.get().products[key]
        record = lab.app.extensions["tailorcard"].variants.lookup(key, product["content_hash"], str(segment),
                                                                  PresentationPolicy.from_dict(policy))
    return None if record is None else f"/v1/variants/{record.variant_id}"


def click_probability(lab: LoopLab, url: str | None, photo_url: str, liking: np.ndarray, scene: bool) -> float:
    if not scene or url is None:
        return BASE_CTR
    return BASE_CTR * (1 + lift_of(lab.embedding(url) - lab.embedding(photo_url), liking))


def lift_of(added: np.ndarray, liking: np.ndarray) -> float:
    """How much more a segment clicks a card than its photo, relatively, from what the card's backdrop added."""
    return LIFT * max(0.0, liking_of(added, liking))


def liking_of(added: np.ndarray, liking: np.ndarray) -> float:
    """A segment's liking of a card: the cosine between what its backdrop added and the segment's hidden direction."""
    return float(added @ liking / max(np.linalg.norm(added), 1e-9))


def run_round(lab: LoopLab, round_: int, shoppers: dict, likings: dict, name: str, arms: list[dict],
              decisions_per_segment: int | None = None) -> dict:
    """One experiment in bandit mode; returns every decision with its expected click rates under every arm."""
    config = lab.config
    per_segment = decisions_per_segment or config.decisions
    lab.call("POST", "/v1/experiments", lab.analyst, {"name": name, "hypothesis": "SIMULATED loop", "layer": name,
                                                       "arms": arms, "allocation": "bandit",
                                                       "bandit": _bandit_settings(config)})
    lab.call("POST", f"/v1/experiments/{name}/start", lab.analyst)
    decisions = []
    for segment, users in shoppers.items():
        for i in range(per_segment):
            decisions.append(_decide(lab, segment, users[i % len(users)], likings[segment], arms, f"{name}-{i}"))
            if (i + 1) % PROGRESS_EVERY == 0:  # a round takes a quarter of an hour and more on a core
                lab.log(f"{name}: segment {segment}, {i + 1} of {per_segment} decisions")
    results = lab.call("GET", f"/v1/experiments/{name}/results", lab.analyst)
    lab.call("POST", f"/v1/experiments/{name}/stop", lab.analyst)
    return {"round": round_, "name": name, "decisions": pd.DataFrame(decisions), "results": results}


def _bandit_settings(config: LoopConfig) -> dict:
    return {} if config.min_share is None else {"min_share": config.min_share}


def _decide(lab: LoopLab, segment: int, user: str, liking: np.ndarray, arms: list[dict], event_prefix: str) -> dict:
    """One cards request, the clicks it draws (posted as events), and what every arm would have earned."""
    interval = lab.config.seconds_between_requests
    lab.clock.advance(interval)
    body = lab.call("GET", f"/v1/users/{user}/cards?n={lab.config.cards}", lab.storefront)
    chosen = body["experiment"]["arm"]
    keys = [_key(lab, c["product"]["id"]) for c in body["cards"]]
    photos = [f"/v1/items/{c['product']['id']}/image" for c in body["cards"]]
    rates = {}
    for arm in arms:
        scene = arm["presentation"]["kind"] == "scene"
        urls = [image_url(lab, key, segment, arm["presentation"]) if scene else None for key in keys]
        rates[arm["name"]] = [click_probability(lab, u, p, liking, scene) for u, p in zip(urls, photos)]
    clicked = [c for c, p in zip(body["cards"], rates[chosen]) if lab.rng.random() < p]
    clicked_at = lab.clock.time() + interval / 2  # after the exposure the server stamped, before the next request
    if clicked:
        lab.call("POST", "/v1/events", lab.storefront, [
            {"event_id": f"{event_prefix}-{user}-{c['product']['id']}", "user_id": user, "item_id": c["product"]["id"],
             "type": "click", "timestamp": clicked_at} for c in clicked])
    decision_rate = {arm: 1 - float(np.prod(1 - np.asarray(p))) for arm, p in rates.items()}
    return {"segment": segment, "user": user, "arm": chosen, "clicks": len(clicked),
            "card_rate": float(np.mean(rates[chosen])),
            **{f"card_rate:{arm}": float(np.mean(p)) for arm, p in rates.items()},
            **{f"decision_rate:{arm}": rate for arm, rate in decision_rate.items()}}


def _key(lab: LoopLab, sku: str) -> int:
    from features.ids import product_key
    return product_key(sku)


def steer(lab: LoopLab, finished: dict, segments: list[int], config: LoopConfig) -> None:
    """Per segment, the round's results steer its next round: the winning scene arm's images (the bandit's leader
    at the round's end, as the results page shows it), or with `steering="fit"` every scene arm's images with its
    click rate (the experiment's, read by the service; `steer_by="oracle"`: the true ones, posted)."""
    for segment in segments:
        if config.steering == "fit" and config.steer_by == "oracle":
            post_fit(lab, segment, *_true_click_rates(finished, segment, config))
            continue
        if config.steering == "fit":
            post_fit_from_experiment(lab, segment, finished["name"])
            continue
        name = oracle_winner(finished, segment) if config.steer_by == "oracle" else round_winner(finished, segment)
        if name is None:
            continue
        policies = {arm["name"]: arm["presentation"] for arm in scene_arms(config, finished["round"])}
        post_round(lab, segment, policies.pop(name), list(policies.values()))


def _true_click_rates(finished: dict, segment: int, config: LoopConfig) -> tuple[list[dict], dict]:
    """([exact(a scene arm's presentation, its true expected click rate per card)], the control's) in this segment:
    the round's decisions' truth, known to the simulation only (the oracle ceiling), each arm weighted alike."""
    policies = {arm["name"]: arm["presentation"] for arm in scene_arms(config, finished["round"])}
    part = finished["decisions"][finished["decisions"]["segment"] == segment]
    return [exact(policy, float(part[f"card_rate:{name}"].mean())) for name, policy in policies.items()], \
        exact(None, BASE_CTR)


def exact(policy: dict | None, rate: float) -> dict:
    """A click rate known exactly (the simulation's truth): one exposure, an interval of width 0."""
    return {"policy": policy, "ctr": rate, "exposures": 1, "ctr_ci": [rate, rate]}


def post_fit(lab: LoopLab, segment: int, arms: list[dict], control: dict) -> None:
    """POST the segment's next round fitted to every scene arm's click rate (_true_click_rates; arms whose products
    all kept their photo are left out: they showed no scene), with the run's `fit`; "between-arms" needs two arms,
    and with one the gains are weighed by exposures."""
    body = [{"scenes": scenes, "ctr": arm["ctr"], "exposures": arm["exposures"], "ctr_ci": list(arm["ctr_ci"])}
            for arm, scenes in ((arm, _scene_ids(lab, segment, arm["policy"])) for arm in arms) if scenes]
    if not body:
        lab.log(f"segment {segment}: no arm painted a scene; not steered")
        return
    fit = "exposures" if lab.config.fit == "between-arms" and len(body) < 2 else lab.config.fit
    lab.call("POST", f"/v1/segments/{segment}/rounds", lab.analyst,
             {"arms": body, "control_ctr": control["ctr"], "control_ci": list(control["ctr_ci"]),
              "fit": fit})


def post_fit_from_experiment(lab: LoopLab, segment: int, name: str, fit: str | None = None) -> None:
    """POST the segment's next round fitted to experiment `name` as an analyst would ({"experiment": name}: the
    service reads its arms' click rates, intervals, exposures and images there), with the run's `fit`; "between-arms"
    with one arm that can speak is weighed by exposures instead (as post_fit does). A segment where no arm can speak
    is not steered, and the log says why."""
    fit = fit or lab.config.fit
    answer = lab.client.post(f"/v1/segments/{segment}/rounds", headers=lab.analyst,
                             json={"experiment": name, "fit": fit})
    refusal = answer.get_json(silent=True) or {}
    if refusal.get("error") == "too_few_arms" and fit == "between-arms":
        post_fit_from_experiment(lab, segment, name, fit="exposures")
    elif refusal.get("error") == "nothing_to_fit":
        lab.log(f"segment {segment}: not steered ({refusal.get('message')})")
    elif answer.status_code != 201:
        raise RuntimeError(f"POST /v1/segments/{segment}/rounds -> {answer.status_code}: "
                           f"{answer.get_data(as_text=True)[:300]}")


def _scene_ids(lab: LoopLab, segment: int, policy: dict) -> list[str]:
    """The variant ids of a scene arm's images in this segment, over every product that has one."""
    with lab.app.app_context():
        keys = sorted(lab.app.extensions["tailorcard"].live.get().products)
    return [url.rsplit("/", 1)[1] for url in (image_url(lab, key, segment, policy) for key in keys) if url]


def post_round(lab: LoopLab, segment: int, won: dict, lost: list[dict]) -> list[str]:
    """POST the segment's next round: the winning arm's scenes, and (with_losers) the other scene arms' as losers.
    Returns the winners' variant ids (none: every product of the arm kept its photo, and nothing is posted)."""
    winners = _scene_ids(lab, segment, won)
    losers = [variant for policy in lost for variant in _scene_ids(lab, segment, policy)] if lab.config.with_losers else []
    if winners:
        lab.call("POST", f"/v1/segments/{segment}/rounds", lab.analyst,
                 {"winners": winners, "step": lab.config.step, **({"losers": losers} if losers else {})})
    else:
        lab.log(f"segment {segment}: the winning arm painted no scene; not steered")
    return winners


def round_winner(finished: dict, segment: int) -> str | None:
    """The scene arm an analyst reads as the round's winner: the bandit's leader (highest posterior probability of
    being best among the variants), or the most-played scene arm where the results name none. Most-played lags:
    it counts the round's first, uninformed decisions as much as its last."""
    part = finished["results"]["segments"].get(str(segment)) or {}
    leader = (part.get("winner") or {}).get("leader")
    if leader is not None:
        return leader
    decisions = finished["decisions"]
    played = decisions[(decisions["segment"] == segment) & (decisions["arm"] != "photo")]["arm"].value_counts()
    return None if played.empty else played.index[0]


def oracle_winner(finished: dict, segment: int) -> str:
    """The scene arm with the highest true decision click rate: known to the simulation only, so steering by it is
    a ceiling (what the loop would gain if every round's winner were read right), never the service's rule."""
    decisions = finished["decisions"]
    return _true_rates(decisions[decisions["segment"] == segment]).drop("photo", errors="ignore").idxmax()


def scene_arms(config: LoopConfig, round_: int) -> list[dict]:
    return [{"name": f"scene-{j}", "weight": 1, "presentation": policy}
            for j, policy in enumerate(scene_policies(config, round_))]


def round_arms(config: LoopConfig, round_: int) -> list[dict]:
    return [{"name": "photo", "weight": 1, "presentation": {"kind": "upscaled"}}] + scene_arms(config, round_)


def run_aa(lab: LoopLab, shoppers: dict, likings: dict) -> list[bool]:
    """A/A experiments (two identical photo arms) in bandit mode: per (experiment, segment), a winner declared?"""
    config, declared = lab.config, []
    arms = [{"name": name, "weight": 1, "presentation": {"kind": "upscaled"}} for name in ("photo", "photo-again")]
    for n in range(config.aa_experiments):
        name = f"loop-aa-{n}"
        finished = run_round(lab, -1, shoppers, likings, name, arms, config.aa_decisions)
        declared += [bool((part.get("winner") or {}).get("winner")) for part in finished["results"]["segments"].values()]
    return declared


def summarize(rounds: list[dict], aa: list[bool], config: LoopConfig) -> dict:
    return {
        **(_rounds_summary(rounds) if rounds else {}),
        "aa_false_winner_rate": round(float(np.mean(aa)), 4) if aa else None,
        "aa_false_winners": f"{sum(aa)} of {len(aa)} segments",
        "rounds": config.rounds, "segments": config.segments, "candidates": config.candidates,
        "decisions_per_segment_per_round": config.decisions, "cards_per_decision": config.cards,
        "products": config.products, "shoppers": config.shoppers, "aa_experiments": config.aa_experiments,
        "aa_decisions_per_segment": config.aa_decisions,
        "step": config.step, "steer_by": config.steer_by, "styles": config.styles,
        "with_losers": config.with_losers, "steering": config.steering,
        **({"fit": config.fit} if config.steering == "fit" else {}), "min_share": config.min_share,
        "seconds_between_requests": config.seconds_between_requests,
        "simulated": "SIMULATED shoppers: clicks follow a hidden per-segment liking of backdrops in CLIP space",
    }


def _rounds_summary(rounds: list[dict]) -> dict:
    lifts = [_scene_lift(r["decisions"]) for r in rounds]
    gaps = [gap for r in rounds for gap in _best_gaps(r)]
    return {
        "lift_round_1": round(lifts[0], 4), "lift_final": round(lifts[-1], 4), "lift_by_round": [round(x, 4) for x in lifts],
        "best_arm_found_rate": round(float(np.mean([gap == 0 for gap in gaps])), 4),
        "missed_best_by": [round(gap, 4) for gap in gaps if gap > 0],
        "winner_is_best_scene_rate": round(float(np.mean([hit for r in rounds for hit in _winner_hits(r)])), 4),
        "regret_vs_oracle": round(float(np.mean([_regret(r["decisions"]) for r in rounds])), 4),
        **_off_policy_summary(rounds),
    }


def _scene_lift(decisions: pd.DataFrame) -> float:
    """Expected click rate of the scene cards served over the control's (BASE_CTR), minus 1."""
    scenes = decisions[decisions["arm"] != "photo"]
    return float(scenes["card_rate"].mean() / BASE_CTR - 1) if len(scenes) else 0.0


def _true_rates(decisions: pd.DataFrame) -> pd.Series:
    """Arm name -> its true decision click rate over these decisions (what every arm would have earned)."""
    columns = [c for c in decisions.columns if c.startswith("decision_rate:")]
    return decisions[columns].mean().rename(lambda column: column.split(":", 1)[1])


def _best_gaps(finished: dict) -> list[float]:
    """Per segment, the truly best arm's decision click rate minus the most-played arm's (0: the best was found)."""
    decisions, gaps = finished["decisions"], []
    for _, part in decisions.groupby("segment"):
        truth = _true_rates(part)
        gaps.append(float(truth.max() - truth[part["arm"].value_counts().index[0]]))
    return gaps


def _winner_hits(finished: dict) -> list[bool]:
    """Per segment, whether the round's winner is the scene arm with the highest true decision click rate."""
    hits = []
    for segment, part in finished["decisions"].groupby("segment"):
        scenes = _true_rates(part).drop("photo", errors="ignore")
        hits.append(round_winner(finished, segment) == scenes.idxmax())
    return hits


def _regret(decisions: pd.DataFrame) -> float:
    """1 - served / best arm's expected decision click rate, per segment, averaged."""
    regrets = []
    for _, part in decisions.groupby("segment"):
        served = np.mean([row[f"decision_rate:{row['arm']}"] for _, row in part.iterrows()])
        regrets.append(1 - served / _true_rates(part).max())
    return float(np.mean(regrets))


OFF_POLICY_METHODS = ("ips", "snips", "dr")


def _off_policy_checks(finished: dict) -> dict[str, list]:
    """Per arm the log can speak for: |estimate - true decision click rate| of each method (IPS, self-normalised
    IPS, doubly robust), and whether IPS's interval holds the truth."""
    truth = _true_rates(finished["decisions"])
    estimates = {arm: e for arm, e in finished["results"]["off_policy"]["arms"].items() if "ips" in e}
    checks = {method: [abs(e[method]["value"] - truth[arm]) for arm, e in estimates.items()]
              for method in OFF_POLICY_METHODS}
    checks["ips_covered"] = [e["ips"]["interval"][0] <= truth[arm] <= e["ips"]["interval"][1]
                             for arm, e in estimates.items()]
    return checks


def _off_policy_summary(rounds: list[dict]) -> dict:
    checks = [_off_policy_checks(r) for r in rounds]
    pooled = {key: [x for c in checks for x in c[key]] for key in (*OFF_POLICY_METHODS, "ips_covered")}
    return {**{f"{method}_error": round(float(np.mean(pooled[method])), 4) for method in OFF_POLICY_METHODS},
            "ips_coverage": round(float(np.mean(pooled["ips_covered"])), 4)}


def run_loop_simulation(folder: Path, config: LoopConfig, scene_spec: str = "embedded", encoder_spec: str = "embedded",
                        log=print) -> dict:
    lab = LoopLab(Path(folder), config, scene_spec, encoder_spec, log)
    shoppers = lab.shoppers_by_segment()
    segments = sorted(shoppers)
    likings = hidden_likings(lab, segments)
    rounds = []
    for round_ in range(config.rounds):
        started = time.perf_counter()
        make_round_images(lab, segments, scene_policies(config, round_))
        rounds.append(run_round(lab, round_, shoppers, likings, f"loop-round-{round_}", round_arms(config, round_)))
        rounds[-1]["decisions"].to_csv(Path(folder) / f"decisions-round-{round_}.csv", index=False)
        log(f"round {round_}: scene lift {_scene_lift(rounds[-1]['decisions']):.4f}, "
            f"{time.perf_counter() - started:.0f} s")
        if round_ + 1 < config.rounds:
            steer(lab, rounds[-1], segments, config)
    return summarize(rounds, run_aa(lab, shoppers, likings), config)
