"""The job queue: exactly-once claims, leases, retries and dead letters, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import threading
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from storage.db import Database
from storage.models import Job, JobState, Series, Study, utcnow
from storage.queue import JobQueue, instance_digest, job_key

POSTGRES_URL = os.environ.get("DICOMNODE_TEST_POSTGRES_URL")


def _database(url: str) -> Database:
    db = Database(url)
    if db.is_postgresql:
        with db.engine.begin() as connection:  # a clean schema per test run
            connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    db.upgrade()
    return db


def _add_jobs(db: Database, count: int, max_attempts: int = 3) -> list[int]:
    ids = []
    with db.session() as session:
        study = Study(study_uid=f"1.2.{uuid.uuid4().int % 10**12}")
        session.add(study)
        session.flush()
        for index in range(count):
            series = Series(series_uid=f"1.3.{uuid.uuid4().int % 10**12}.{index}", study_id=study.id)
            session.add(series)
            session.flush()
            job = Job(job_key=job_key(series.series_uid, "0" * 64, "test"), series_id=series.id,
                      instance_digest="0" * 64, instance_count=1, pipeline_version="test",
                      max_attempts=max_attempts)
            session.add(job)
            session.flush()
            ids.append(job.id)
    return ids


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Database:
    return _database(f"sqlite:///{tmp_path / 'q.sqlite'}")


def test_job_key_depends_on_the_instance_set_not_its_order() -> None:
    a = instance_digest([("1.2.1", "aa"), ("1.2.2", "bb")])
    assert a == instance_digest([("1.2.2", "bb"), ("1.2.1", "aa")])
    assert a != instance_digest([("1.2.1", "aa")])
    assert job_key("1.2.3", a, "0.1.0").startswith("1.2.3:")


def _claim_all(db: Database, workers: int) -> list[int]:
    queue = JobQueue(db, lease_s=60, max_attempts=3, backoff_s=0)
    claimed: list[int] = []
    lock = threading.Lock()

    def work() -> None:
        worker = f"t-{threading.get_ident()}"
        while (job := queue.claim(worker)) is not None:
            with lock:
                claimed.append(job.id)
            queue.succeed(job)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return claimed


def test_concurrent_workers_on_sqlite_claim_every_job_exactly_once(sqlite_db: Database) -> None:
    ids = _add_jobs(sqlite_db, 40)
    claimed = _claim_all(sqlite_db, 4)
    assert sorted(claimed) == sorted(ids)


def test_failed_job_is_retried_after_backoff_then_dead(sqlite_db: Database) -> None:
    [job_id] = _add_jobs(sqlite_db, 1, max_attempts=2)
    queue = JobQueue(sqlite_db, lease_s=60, max_attempts=2, backoff_s=3600)
    job = queue.claim("w")
    assert job is not None and job.attempt == 1
    assert queue.fail(job, "boom") == JobState.failed
    assert queue.claim("w") is None  # backing off
    with sqlite_db.session() as session:
        session.get(Job, job_id).available_at = utcnow()
    job = queue.claim("w")
    assert job is not None and job.attempt == 2
    assert queue.fail(job, "boom again") == JobState.dead
    assert queue.claim("w") is None
    assert queue.retry(job_id)
    again = queue.claim("w")
    assert again is not None and again.attempt == 3


def test_expired_lease_puts_the_job_back_and_the_old_worker_loses_it(sqlite_db: Database) -> None:
    [job_id] = _add_jobs(sqlite_db, 1)
    queue = JobQueue(sqlite_db, lease_s=60, max_attempts=3, backoff_s=0)
    stale = queue.claim("dead-worker")
    assert stale is not None
    with sqlite_db.session() as session:
        session.get(Job, job_id).lease_expires_at = utcnow() - dt.timedelta(seconds=1)
    assert queue.requeue_expired() == 1
    fresh = queue.claim("live-worker")
    assert fresh is not None and fresh.id == job_id
    assert not queue.heartbeat(stale) and not queue.succeed(stale)
    assert queue.succeed(fresh)


def test_jobs_of_a_dead_local_process_are_released_at_start(sqlite_db: Database) -> None:
    import socket

    [job_id] = _add_jobs(sqlite_db, 1)
    queue = JobQueue(sqlite_db, lease_s=600, max_attempts=3, backoff_s=0)
    process = multiprocessing.get_context("fork").Process(target=lambda: None)
    process.start()
    process.join()
    assert queue.claim(f"{socket.gethostname()}:{process.pid}:abcd1234") is not None
    assert queue.release_dead_local_workers() == 1
    job = queue.claim("new")
    assert job is not None and job.id == job_id


def _pg_worker(url: str, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    db = Database(url)
    queue = JobQueue(db, lease_s=60, max_attempts=3, backoff_s=0)
    worker = f"p-{os.getpid()}"
    claimed = []
    while (job := queue.claim(worker)) is not None:
        claimed.append(job.id)
        queue.succeed(job)
    out.put(claimed)
    db.dispose()


def test_several_worker_processes_share_one_postgresql_queue_without_double_claims() -> None:
    if POSTGRES_URL is None:
        if os.environ.get("CI"):
            pytest.fail("DICOMNODE_TEST_POSTGRES_URL must be set in CI (.ci/run starts PostgreSQL)")
        pytest.skip("no PostgreSQL: set DICOMNODE_TEST_POSTGRES_URL")
    db = _database(POSTGRES_URL)
    ids = _add_jobs(db, 120)
    db.dispose()
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    processes = [context.Process(target=_pg_worker, args=(POSTGRES_URL, results)) for _ in range(4)]
    for process in processes:
        process.start()
    claimed = [job for _ in processes for job in results.get(timeout=120)]
    for process in processes:
        process.join(timeout=30)
    assert sorted(claimed) == sorted(ids)  # every job once, none twice
    db = Database(POSTGRES_URL)
    with db.session() as session:
        assert session.query(Job).filter(Job.state == JobState.succeeded).count() == 120
    db.dispose()


def test_the_node_runs_on_postgresql_end_to_end(node_factory, tmp_path: Path) -> None:
    """`dicomnode serve` with a PostgreSQL URL: receive, index, complete, queue."""
    from tests.node.factory import make_series

    if POSTGRES_URL is None:
        if os.environ.get("CI"):
            pytest.fail("DICOMNODE_TEST_POSTGRES_URL must be set in CI (.ci/run starts PostgreSQL)")
        pytest.skip("no PostgreSQL: set DICOMNODE_TEST_POSTGRES_URL")
    _database(POSTGRES_URL).dispose()  # empty, migrated schema
    node = node_factory(f'[storage]\ndatabase_url = "{POSTGRES_URL}"')
    node.storescu(make_series(tmp_path / "s", 8))
    db = Database(POSTGRES_URL)
    try:
        from tests.node.conftest import wait_for

        def queued() -> bool:
            with db.session() as session:
                return session.query(Job).count() == 1
        assert wait_for(queued, timeout=20)
        with db.session() as session:
            assert session.query(Job).one().instance_count == 8
    finally:
        db.dispose()
