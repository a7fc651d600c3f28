"""The lab's commands, added to `tailorcard` through the `tailorcard.commands` entry point (pyproject.toml), so
the product's CLI never imports the lab. Argument parsing and printing only."""
from __future__ import annotations

from pathlib import Path

import click

from features.defaults import SEGMENTS, SERVICE_URL, SHOTS_DIR, SIMULATE_LOOP_RUN
from lab.output import print_result
from service.cli_options import encoder_option, grid_option, json_option, seed_option, spec_option


def register(main: click.Group, bench: click.Group) -> None:
    """Every bench, simulator and the DCGAN baseline's training; each lab.cli_* module adds its own."""
    from lab import cli_benches, cli_experiments, cli_recsys
    for module in (cli_benches, cli_experiments, cli_recsys):
        module.register(main, bench)
    bench.add_command(bench_presentation_command)
    main.add_command(simulate_loop_command)
    main.add_command(simulate_bandit_command)
    main.add_command(storefront_shots_command)


scenes_option = spec_option("--scenes", "scene_spec", "Scene generator spec.")


@click.command("presentation")
@click.option("--catalogue", "catalogue_dir", required=True, type=click.Path(exists=True, file_okay=False),
              help="Any catalogue folder (catalogue.csv + photos); clothing-photos via `catalogue from-folders`.")
@scenes_option
@encoder_option()
@click.option("--products", default=24, show_default=True, help="Held-out products presented.")
@click.option("--segments", default=SEGMENTS, show_default=True, help="K: k-means segments of the product embeddings.")
@click.option("--fallback-products", default=400, show_default=True,
              help="Held-out products whose matte decision gives fallback_rate_heldout (no painting).")
@spec_option("--matte", "matte_spec", "Matte spec: 'embedded' (the shipped matte) or 'local-dir:PATH' (a candidate "
             "`tailorcard train-matte` wrote, judged on cards before it is shipped).")
@seed_option
@grid_option("Write the products x segments grid here (PNG); nothing is written without it.")
@json_option()
def bench_presentation_command(catalogue_dir, scene_spec, encoder_spec, products, segments, fallback_products,
                               matte_spec, seed, grid_path, as_json):
    """Scene cards on a catalogue: product pixels kept, taste specificity, backdrop change, fallbacks, CPU speed."""
    import torch

    from features.encoder import load_encoder
    from imagegen.presentation import build_presenter
    from lab.presentation_bench import bench_presentation

    encoder = load_encoder(encoder_spec, device="cpu")
    presenter = build_presenter(scene_spec, encoder, matte_spec=matte_spec)
    result, grid = bench_presentation(presenter, encoder, catalogue_dir,
                                      products=products, segments=segments, seed=seed,
                                      fallback_products=fallback_products, log=lambda line: click.echo(line, err=True))
    result.update(catalogue=str(catalogue_dir), scenes=scene_spec, device="cpu", torch_threads=torch.get_num_threads(),
                  matte=matte_spec if presenter.matte_model is not None else "pseudo-masks of plain backdrops only",
                  upscaler="embedded-upscaler" if presenter.upscaler is not None else "bicubic")
    if grid_path and grid is not None:
        Path(grid_path).parent.mkdir(parents=True, exist_ok=True)
        grid.save(grid_path, optimize=True)
        result["grid"] = str(grid_path)
    print_result(result, as_json)


@click.command("simulate-loop")
@click.option("--folder", default=str(SIMULATE_LOOP_RUN), show_default=True, type=click.Path(file_okay=False),
              help="A fresh folder for the simulation's database (emptied first).")
@scenes_option
@encoder_option()
@click.option("--rounds", type=click.IntRange(min=0), default=3, show_default=True,
              help="Rounds of bandit and regeneration (0: the A/A experiments alone).")
@click.option("--decisions", default=400, show_default=True, help="Cards requests per segment per round.")
@click.option("--shoppers", type=click.IntRange(min=1), default=3000, show_default=True,
              help="SIMULATED shoppers in the store. A bandit keeps a shopper's draw for an hour, longer than a "
                   "round at the default pace, so a round holds about one independent draw per shopper.")
@click.option("--aa-experiments", type=click.IntRange(min=0), default=10, show_default=True,
              help="A/A experiments (two identical photo arms).")
@click.option("--aa-decisions", type=click.IntRange(min=1), default=200, show_default=True,
              help="Cards requests per segment in each A/A experiment.")
@click.option("--min-share", type=float, default=None,
              help="The bandit's floor for each non-control arm (default: the service's, 0.02).")
@click.option("--requests-per-second", type=click.FloatRange(min=0, min_open=True), default=20.0, show_default=True,
              help="The store's cards requests per simulated second (the bandit re-counts every 5 simulated s).")
@click.option("--steer-by", type=click.Choice(["leader", "oracle"]), default="leader", show_default=True,
              help="Steer each segment toward the round's winner as analysts read it (the bandit's leader), or, as "
                   "a ceiling, toward the scene arm the simulation knows is best.")
@click.option("--step", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="How far each round turns the segment's condition toward its winner (POST /v1/segments/<s>/rounds: "
                   "0 stays, 1 turns 45 degrees).")
@click.option("--ceiling", is_flag=True,
              help="No shoppers and no bandit: every arm's expected click rate over all the products, the truly "
                   "best arm steering each round, and how far the generator paints toward each liking when told it "
                   "(lab.loop_ceiling; about 20 minutes on a core, not 30).")
@click.option("--styles", type=click.Choice(["fixed", "follow"]), default="fixed", show_default=True,
              help="Arm j paints style j in every round, or the round's j-th style (the round before's winner "
                   "first, then the styles nearest what won).")
@click.option("--with-losers/--winners-only", default=False, show_default=True,
              help="Steer by what set the winning arm apart (its scenes, less what the round's other scene arms "
                   "added), or by what the winning arm added alone.")
@click.option("--steering", type=click.Choice(["winner", "fit"]), default="winner", show_default=True,
              help="The winning arm's scenes steer the next round (by --step), or every scene arm's with its click "
                   "rate: the next round paints what the fit to them says shoppers reward.")
@click.option("--fit", type=click.Choice(["exposures", "intervals", "between-arms"]), default="exposures",
              show_default=True, help="Fitted steering: the arms' gains over the control weighed by their exposures, "
                                      "by their intervals (the control's error in every gain), or only how they differ.")
@seed_option
@json_option()
def simulate_loop_command(folder, scene_spec, encoder_spec, rounds, decisions, shoppers, aa_experiments, aa_decisions,
                          min_share, requests_per_second, steer_by, step, ceiling, styles, with_losers, steering,
                          fit, seed, as_json):
    """SIMULATED shoppers: bandit over scene arms and rounds of regeneration through the real API."""
    import shutil

    from lab.loop_ceiling import run_loop_ceiling
    from lab.loop_simulation import LoopConfig, run_loop_simulation

    shutil.rmtree(folder, ignore_errors=True)
    Path(folder).mkdir(parents=True)
    config = LoopConfig(rounds=rounds, decisions=decisions, shoppers=shoppers, aa_experiments=aa_experiments,
                        aa_decisions=aa_decisions,
                        min_share=min_share,
                        seconds_between_requests=1 / requests_per_second, steer_by=steer_by, step=step, styles=styles,
                        with_losers=with_losers, steering=steering, fit=fit,
                        seed=seed)
    run = run_loop_ceiling if ceiling else run_loop_simulation
    result = run(Path(folder), config, scene_spec, encoder_spec, log=lambda line: click.echo(line, err=True))
    print_result(result, as_json)


def _numbers(kind):
    def parse(ctx, param, value):
        try:
            return [kind(part) for part in value.split(",")]
        except ValueError:
            raise click.BadParameter(f"expected comma-separated numbers; got {value!r}") from None
    return parse


@click.command("simulate-bandit")
@click.option("--rates", required=True, callback=_numbers(float),
              help="Each arm's click rate per exposure, the control's first: 0.05,0.057,0.0585,0.06.")
@click.option("--exposures", default="20000,80000,320000", show_default=True, callback=_numbers(int),
              help="Exposure budgets per segment to try.")
@click.option("--segments", default=40, show_default=True, help="Independent segments per budget.")
@seed_option
@json_option()
def simulate_bandit_command(rates, exposures, segments, seed, as_json):
    """SIMULATED: the exposures per segment the bandit needs to find the best of arms with these click rates."""
    from lab.bandit_simulation import best_arm_found_by_exposures

    print_result(best_arm_found_by_exposures(rates, exposures, segments=segments, seed=seed), as_json)


@click.command("storefront-shots")
@click.option("--url", default=SERVICE_URL, show_default=True, help="A serving instance (`tailorcard serve`).")
@click.option("--key", required=True, help="Its storefront key (instance/api_keys.json).")
@click.option("--out", "out_dir", default=str(SHOTS_DIR), show_default=True, type=click.Path(file_okay=False),
              help="Where storefront.png and same-product.png are written.")
def storefront_shots_command(url, key, out_dir):
    """Screenshots for the README: two shoppers of different segments sharing a product, scenes ready (Chromium)."""
    from lab.storefront_shots import take_shots

    print_result(take_shots(url.rstrip("/"), key, Path(out_dir)), as_json=True)
