"""The lab's `tailorcard simulate-ab`: can the experiment analysis be trusted? Checked on SIMULATED shoppers.
Added by lab.cli.register."""
from __future__ import annotations

import json
import tempfile
import time

import click

from service.cli_options import json_option, seed_option


def register(main: click.Group, bench: click.Group) -> None:
    main.add_command(simulate_ab)


@click.command("simulate-ab")
@click.option("--experiments", type=click.IntRange(2, 10_000), default=100, show_default=True,
              help="A/A experiments, and as many with a planted lift.")
@click.option("--users", type=click.IntRange(10, 1_000_000), default=2000, show_default=True, help="Per experiment.")
@click.option("--cards", type=click.IntRange(1, 100), default=5, show_default=True, help="Cards each shopper sees.")
@click.option("--lift", type=click.FloatRange(-0.99, 10), default=0.10, show_default=True,
              help="Planted relative CTR lift of the treatment.")
@seed_option
@json_option("one JSON object with the rates")
def simulate_ab(experiments, users, cards, lift, seed, as_json):
    """Run SIMULATED shoppers with a known click model through the real HTTP API (Flask test client, a fresh
    SQLite database): A/A experiments and experiments with a planted CTR lift; report how often the analysis
    is fooled (A/A false positives, SRM false alarms) and how well it recovers the planted lift."""
    from lab.ab_simulation import StudyConfig, run_study, study_api
    from lab.experiment_simulation import trust_summary
    config = StudyConfig(experiments=experiments, users=users, cards=cards, planted_lift=lift, seed=seed)
    click.echo(f"SIMULATED shoppers: {experiments} A/A + {experiments} planted-lift (+{lift:.0%} CTR) experiments, "
               f"{users:,} users x {cards} cards each, 50/50 split, through the HTTP API")
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        api, item_ids = study_api(folder, config)
        aa, planted = run_study(api, config, item_ids, log=click.echo)
    summary = {**trust_summary(aa, planted), "planted_lift_true": lift, "users_per_experiment": users,
               "cards_per_user": cards, "exposures_per_experiment": users * cards, "seed": seed,
               "seconds": round(time.perf_counter() - began, 1)}
    for key in ("aa_false_positive_rate", "planted_lift_power", "planted_lift_estimate", "planted_lift_estimate_sd",
                "srm_false_alarm_rate", "seconds"):
        click.echo(f"  {key:28s} {summary[key]:.4f}" if key != "seconds" else f"  {key:28s} {summary[key]}")
    if as_json:
        click.echo(json.dumps(summary))
