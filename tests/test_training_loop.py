"""The shared training loop on its own: a one-parameter model, budgets of a few steps, checkpoints, resume, log."""
import logging

import pytest
import torch

from features.training_loop import TrainingLoop

LOGGER = "tests.training_loop"


class FileStore:
    """The simplest checkpoint store: one torch.save file; remembers what each save wrote."""

    def __init__(self, location, model, optimizer):
        self.location, self.model, self.optimizer = location, model, optimizer
        self.saved: list[dict] = []

    def save(self, progress: dict) -> None:
        self.location.mkdir(parents=True, exist_ok=True)
        torch.save({"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(), "progress": progress},
                   self.location / "checkpoint.pt")
        self.saved.append(dict(progress))

    def load(self) -> dict | None:
        if not (self.location / "checkpoint.pt").exists():
            return None
        checkpoint = torch.load(self.location / "checkpoint.pt")
        self.model.load_state_dict(checkpoint["model"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        return checkpoint["progress"]


class OneWeight(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(()))


def make_loop(folder, max_steps, **options):
    model = OneWeight()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    store = FileStore(folder, model, optimizer)
    loop = TrainingLoop("toy", store, minutes=options.pop("minutes", 1.0), logger=logging.getLogger(LOGGER),
                        max_steps=max_steps, log_every=1, **options)
    return loop, model, optimizer


def train(loop, model, optimizer) -> list[int]:
    """Pull the weight toward 3; return the step indices the loop yielded."""
    steps = []
    for step in loop:
        loss = (model.weight - 3.0) ** 2
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        loop.log(step, loss=loss)
        steps.append(step)
    return steps


def test_max_steps_stops_the_loop_and_the_end_is_checkpointed(tmp_path):
    loop, model, optimizer = make_loop(tmp_path, max_steps=3, checkpoint_every_s=3600.0)
    assert train(loop, model, optimizer) == [0, 1, 2]
    assert loop.step == 3
    assert [(p["step"], p["finished"]) for p in loop.checkpoints.saved] == [(3, True)]


def test_resume_continues_from_the_saved_step_as_if_never_stopped(tmp_path):
    first, model, optimizer = make_loop(tmp_path / "split", max_steps=3)
    train(first, model, optimizer)
    first.extra_state["note"] = "kept"
    first.save()

    again, model, optimizer = make_loop(tmp_path / "split", max_steps=5)
    assert again.resume() and again.step == 3 and again.extra_state == {"note": "kept"}
    assert train(again, model, optimizer) == [3, 4]

    straight, straight_model, straight_optimizer = make_loop(tmp_path / "straight", max_steps=5)
    train(straight, straight_model, straight_optimizer)
    torch.testing.assert_close(model.weight, straight_model.weight)  # Adam's moments came back too


def test_nothing_to_resume_starts_fresh(tmp_path):
    loop, _, _ = make_loop(tmp_path, max_steps=1)
    assert not loop.resume() and loop.step == 0


def test_checkpoints_and_registered_actions_run_between_steps(tmp_path):
    loop, model, optimizer = make_loop(tmp_path, max_steps=3, checkpoint_every_s=0.0)
    seen = []
    loop.every(0.0, lambda: seen.append(loop.step))
    train(loop, model, optimizer)
    assert [(p["step"], p["finished"]) for p in loop.checkpoints.saved] == [(1, False), (2, False), (3, False),
                                                                           (3, True)]
    assert seen == [1, 2, 3]


@pytest.mark.parametrize("spans_sessions, steps", [(True, []), (False, [4, 5])])
def test_a_budget_spanning_sessions_counts_the_time_trained_before(tmp_path, spans_sessions, steps):
    earlier, model, optimizer = make_loop(tmp_path, max_steps=4)
    train(earlier, model, optimizer)
    earlier.checkpoints.save({"step": 4, "seconds": 90.0, "finished": True, "extra": {}})  # a 1.5-minute session
    loop, model, optimizer = make_loop(tmp_path, max_steps=6, minutes=1.0, budget_spans_sessions=spans_sessions)
    loop.resume()
    assert loop.seconds == pytest.approx(90.0)
    assert train(loop, model, optimizer) == steps
    assert loop.checkpoints.saved[-1]["seconds"] >= 90.0


def test_a_spent_budget_trains_nothing_but_still_checkpoints(tmp_path):
    loop, model, optimizer = make_loop(tmp_path, max_steps=10, minutes=0.0)
    assert train(loop, model, optimizer) == []
    assert loop.checkpoints.saved == [{"step": 0, "seconds": pytest.approx(0.0, abs=1.0), "finished": True, "extra": {}}]


def test_hyperparameters_are_logged_before_the_first_step(tmp_path, caplog):
    loop, model, optimizer = make_loop(tmp_path, max_steps=2, hyperparameters={"batch_size": 1, "lr": 0.1})
    with caplog.at_level(logging.INFO, logger=LOGGER):
        train(loop, model, optimizer)
    lines = [record.getMessage() for record in caplog.records]
    assert lines.index('toy: hyperparameters {"batch_size": 1, "lr": 0.1}') < lines.index("toy step 0: loss=9.0000")
