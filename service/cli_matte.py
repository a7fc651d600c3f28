"""`tailorcard train-matte`: argument parsing and printing only (`bench matte` is the lab's)."""
from __future__ import annotations

import click

from features.defaults import MATTE_RUN
from service.cli import main
from service.cli_options import BUDGET_IN_ALL, export_option, photo_sets, run_folder_options, seed_option, stop_options


@main.command("train-matte")
@photo_sets("Studio photos on plain backdrops, pseudo-masked (fashion-small in the documented runs).",
            "clothing-photos folder: its train/ photos are the composites' backgrounds.")
@seed_option
@run_folder_options(MATTE_RUN, "Training folder: train.log, checkpoints every minute, the prepared products.",
                    25.0, BUDGET_IN_ALL)
@click.option("--products", default=16000, show_default=True, help="Training photos to pseudo-mask.")
@click.option("--batch-size", default=32, show_default=True)
@click.option("--lr", default=3e-3, show_default=True)
@click.option("--bf16", is_flag=True,
              help="bf16 autocast: twice as fast a step on CPUs with native bf16 (AVX512-BF16), about ten times "
                   "slower on CPUs without it (check `lscpu` for avx512_bf16).")
@click.option("--init", "init_spec", default=None,
              help="Start from these weights (fine-tuning): 'embedded' or 'local-dir:PATH'; default a random start.")
@click.option("--teacher", "teacher_spec", default=None,
              help="Leave out products whose pseudo-mask this matte ('embedded' or 'local-dir:PATH') disagrees with "
                   "(IoU < 0.95); default: every trusted pseudo-mask.")
@click.option("--self-train", is_flag=True,
              help="With --teacher: the --backgrounds folder's train photos whose teacher matte is sure are training "
                   "products too, that matte as their truth.")
@click.option("--teacher-settles", is_flag=True,
              help="With --teacher: its mattes have their undecided interior settled by the photo's own colours "
                   "first (imagegen.matte.settle), so it is sure of more photos.")
@click.option("--open-gaps", "gap_exceptions", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Holes of the backdrop's colour inside a pseudo-mask are backdrop in the truth (pseudo_mask fills "
                   "the small ones), except in the products this file lists, one key a line, found by eye to be "
                   "product there (white stripes, watch faces). The list holds for the photos it was made from.")
@stop_options
@export_option("Where the finished model is written (default: OUT/model).")
def train_matte_command(catalogue_dir, backgrounds_dir, seed, out_dir, minutes, products, batch_size, lr, max_steps,
                        resume, export_dir, bf16, init_spec, teacher_spec, self_train, teacher_settles, gap_exceptions):
    """Train the product matte on pseudo-masked catalogue photos and hard composites (CPU; run it with nice)."""
    from features.model_spec import parse_model_spec
    from imagegen.matte.data import read_gap_exceptions
    from imagegen.matte.train import train_matte

    init_dir, teacher_dir = (parse_model_spec(spec, "matte").folder if spec else None for spec in (init_spec, teacher_spec))
    train_matte(catalogue_dir, backgrounds_dir, out_dir, minutes, products=products, batch_size=batch_size, lr=lr,
                resume=resume, max_steps=max_steps, seed=seed, export_dir=export_dir, bf16=bf16, init_dir=init_dir,
                teacher_dir=teacher_dir, self_train=self_train, teacher_settles=teacher_settles,
                gaps_kept=read_gap_exceptions(gap_exceptions) if gap_exceptions else None)
    click.echo(f"matte model written to {export_dir or f'{out_dir}/model'}")
