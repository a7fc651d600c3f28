"""`tailorcard simulate-loop --ceiling`: the loop's rounds without shoppers or a bandit, in minutes. SIMULATED.

Each round paints every arm's scenes (as `simulate-loop` does), reads every arm's expected click rate over all
the products from the hidden likings, and steers each segment toward its truly best arm through the real rounds
API (with `steering="fit"`: hands it every scene arm with its true click rate). What the candidates of each
round could earn if every winner were read right: a ceiling for a change to
the generator or to steering, measured before the half-hour run with shoppers. Reported per round, averaged over
segments: `best_lift` (the best arm's lift over the control) and `mean_lift` (the arms' average lift: where a
bandit that still explores lands).

And `reach`: how far the scene generator gets toward a segment's liking when it is told it. An oracle that knows
the hidden liking takes the REACH_ROWS rows of the generator's condition bank most like it and paints each for
every product: `mean_lift` is those cards' lift, `best_of_lift` that of the best of them per product (chosen by
the liking, which no steering rule reads). A yardstick set by the generator: rounds near it have little left to
find. Not a strict bound: the bank rows most like the liking are not always the ones that paint nearest it.

And `plain_backdrop_lift`: each product's card (the matte's cut, the card's framing) over a plain backdrop of the
segment's secret colour, the backdrop its liking was made from, painted by no generator: near what the click
model gives any backdrop at most, so `reach` over it is the share of the way a generator gets.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from lab.loop_simulation import (BASE_CTR, LoopConfig, LoopLab, click_probability, exact, hidden_likings, image_url,
                                 lift_of, make_round_images, post_fit, post_round, scene_policies, secret_colours)

REACH_ROWS = 4  # as many as a card's candidates (PresentationPolicy.candidates)


def arm_rates(lab: LoopLab, segment: int, policies: list[dict], liking: np.ndarray) -> list[float]:
    """Each arm's expected click rate per card, over every product of the catalogue."""
    with lab.app.app_context():
        products = lab.app.extensions["tailorcard"].live.get().products
    return [float(np.mean([click_probability(lab, image_url(lab, key, segment, policy),
                                             f"/v1/items/{product['id']}/image", liking, True)
                           for key, product in sorted(products.items())])) for policy in policies]


def ceiling_rounds(lab: LoopLab, segments: list[int], likings: dict) -> list[dict[int, np.ndarray]]:
    """Per round, each segment's arms' lifts over the control; between rounds the best arm steers."""
    config, rounds = lab.config, []
    for round_ in range(config.rounds):
        policies = scene_policies(config, round_)
        make_round_images(lab, segments, policies)
        rounds.append({s: np.asarray(arm_rates(lab, s, policies, likings[s])) / BASE_CTR - 1 for s in segments})
        lab.log(f"round {round_}: lifts per segment and arm "
                f"{ {s: np.round(lifts, 4).tolist() for s, lifts in rounds[-1].items()} }")
        if round_ + 1 < config.rounds:
            for segment in segments:
                lifts = rounds[-1][segment]
                if config.steering == "fit":  # every arm by its true click rate
                    rates = [exact(policy, BASE_CTR * (1 + lift)) for policy, lift in zip(policies, lifts)]
                    post_fit(lab, segment, rates, exact(None, BASE_CTR))
                    continue
                best = int(np.argmax(lifts))
                post_round(lab, segment, policies[best], policies[:best] + policies[best + 1:])
    return rounds


def generator_reach(lab: LoopLab, segments: list[int], likings: dict) -> dict[int, dict]:
    """Per segment, the lifts of the bank rows most like its hidden liking, painted for every product (see the
    module's docstring); products whose photo the matte refuses are left out."""
    from features.vectors import unit_rows
    from imagegen.presentation import SCENE
    presenter = lab.app.extensions["tailorcard"].variants.presenter
    bank = presenter.scenes.condition_bank
    photos = lab.product_photos()
    reach = {}
    for segment in segments:
        rows = bank[np.argsort(-(unit_rows(bank, allow_zero=True) @ likings[segment]), kind="stable")[:REACH_ROWS]]
        lifts = []
        for url, photo in photos.items():
            cards = [card.image for card in presenter.paint_rows(photo, SCENE, rows) if card.image is not None]
            if cards:
                lifts.append(card_lifts(lab, cards, [url] * len(cards), likings[segment]))
        reach[segment] = {"mean_lift": float(np.mean([np.mean(x) for x in lifts])),
                          "best_of_lift": float(np.mean([np.max(x) for x in lifts])), "products": len(lifts)}
        lab.log(f"segment {segment}: reach {reach[segment]}")
    return reach


def plain_backdrop_lift(lab: LoopLab, segments: list[int], likings: dict, colours: dict) -> dict[int, float]:
    """Per segment, the mean lift of every product's card over a plain backdrop of its secret colour (see the
    module's docstring); products whose photo the matte refuses are left out."""
    from imagegen.presentation.compose import compose, matte_photo
    presenter = lab.app.extensions["tailorcard"].variants.presenter
    matted = {url: matte_photo(presenter.at_card_size(photo)[0], presenter.matte_model)[0]
              for url, photo in lab.product_photos().items()}
    matted = {url: m for url, m in matted.items() if m is not None}
    lifts = {}
    for segment in segments:
        cards = [compose(m, np.broadcast_to(np.array(colours[segment], np.uint8), m.pixels.shape).copy())
                 for m in matted.values()]
        lifts[segment] = float(np.mean(card_lifts(lab, cards, list(matted), likings[segment])))
        lab.log(f"segment {segment}: plain backdrop {colours[segment]} lift {lifts[segment]:.4f}")
    return lifts


def card_lifts(lab: LoopLab, cards: list[np.ndarray], photo_urls: list[str], liking: np.ndarray) -> list[float]:
    """Each card's lift for a segment of this liking: what its backdrop added to its product's photo (at
    `photo_urls`, one per card), as the simulated shoppers' clicks read it."""
    added = lab.encoder.encode_images([Image.fromarray(card) for card in cards]) - \
        np.stack([lab.embedding(url) for url in photo_urls])
    return [lift_of(a, liking) for a in added]


def run_loop_ceiling(folder: Path, config: LoopConfig, scene_spec: str = "embedded", encoder_spec: str = "embedded",
                     log=print) -> dict:
    lab = LoopLab(Path(folder), config, scene_spec, encoder_spec, log)
    segments = sorted(lab.shoppers_by_segment())
    colours = secret_colours(lab, segments)
    likings = hidden_likings(lab, segments, colours)
    rounds = ceiling_rounds(lab, segments, likings)
    reach = generator_reach(lab, segments, likings)
    plain = plain_backdrop_lift(lab, segments, likings, colours)
    return {"best_lift_by_round": [round(float(np.mean([l.max() for l in r.values()])), 4) for r in rounds],
            "mean_lift_by_round": [round(float(np.mean([l.mean() for l in r.values()])), 4) for r in rounds],
            "reach": {"mean_lift": round(float(np.mean([r["mean_lift"] for r in reach.values()])), 4),
                      "best_of_lift": round(float(np.mean([r["best_of_lift"] for r in reach.values()])), 4),
                      "rows": REACH_ROWS},
            "plain_backdrop_lift": round(float(np.mean(list(plain.values()))), 4),
            "rounds": config.rounds, "segments": config.segments, "candidates": config.candidates,
            "products": config.products, "step": config.step, "styles": config.styles,
            "with_losers": config.with_losers, "steering": config.steering,
            **({"fit": config.fit} if config.steering == "fit" else {}),
            "steer_by": ("oracle (every scene arm's true click rate; no shoppers, no bandit)"
                         if config.steering == "fit" else "oracle (the truly best arm; no shoppers, no bandit)"),
            "simulated": "SIMULATED: clicks follow a hidden per-segment liking of backdrops in CLIP space"}
