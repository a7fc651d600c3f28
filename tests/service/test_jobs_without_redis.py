"""RQ's Redis out of reach costs no request and no start: job rows stay queued (the truth) and wait. Found by a
multi-machine walk-through: with Redis down, cards answered 500 and gunicorn's workers failed to boot."""
import sqlalchemy as sa
from service_helpers import auth, make_app, shopper_wanting_variants

from service import jobs

STOREFRONT = auth("storefront")
NOWHERE = "redis://127.0.0.1:1/0"  # nothing listens on port 1


def _statuses(app) -> list[str]:
    with app.extensions["tailorcard"].db.connect() as connection:
        return connection.execute(sa.select(jobs.jobs.c.status)).scalars().all()


def test_cards_are_served_and_jobs_kept_when_redis_is_down(database_url, tiny_encoder, caplog):
    app = make_app(database_url, tiny_encoder, JOB_QUEUE="rq", REDIS_URL=NOWHERE)
    user, wanting = shopper_wanting_variants(app, 2)
    response = app.test_client().get(f"/v1/users/{user}/cards?n=2", headers=STOREFRONT)
    assert response.status_code == 200 and len(response.json["cards"]) == 2
    assert _statuses(app) == ["queued"] * (2 * wanting)  # kept for a worker, announced at the next start
    assert "stays queued unannounced: RQ's Redis is out of reach" in caplog.text
    restarted = make_app(database_url, tiny_encoder, JOB_QUEUE="rq", REDIS_URL=NOWHERE)  # a start re-announces:
    assert restarted.extensions["tailorcard"].jobs.depth() == 2 * wanting  # it boots all the same


def test_an_rq_job_process_does_not_re_announce_the_queue(database_url, tiny_encoder, monkeypatch):
    announced = []
    monkeypatch.setattr(jobs.JobQueue, "_push", lambda self, job_id: announced.append(job_id) or True)
    app = make_app(database_url, tiny_encoder, JOB_QUEUE="rq", REDIS_URL=NOWHERE)
    user, wanting = shopper_wanting_variants(app, 2)
    app.test_client().get(f"/v1/users/{user}/cards?n=2", headers=STOREFRONT)
    assert len(announced) == 2 * wanting
    make_app(database_url, tiny_encoder, JOB_QUEUE="rq", REDIS_URL=NOWHERE)  # a web worker's start: all again
    assert len(announced) == 4 * wanting
    make_app(database_url, tiny_encoder, JOB_QUEUE="rq", REDIS_URL=NOWHERE, RECOVER_JOBS_AT_START=False)
    assert len(announced) == 4 * wanting  # what run_job_by_id builds in each job's process: nothing again
