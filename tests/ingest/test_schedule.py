"""Scheduling: one run at a time under a file lock, catch-up after downtime at most once."""

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from filelock import FileLock

from ingest.config import ScheduleSpec
from ingest.schedule import (
    RunInProgress,
    build_scheduler,
    lock_path,
    missed_since,
    read_last_run,
    run_locked,
    write_last_run,
)


def test_lock_allows_one_run_at_a_time(tmp_path):
    lock = lock_path(tmp_path)
    assert lock == tmp_path / ".scprint-ingest.lock"
    with FileLock(str(lock)), pytest.raises(RunInProgress, match="another ingestion run holds"):
        run_locked(lambda: pytest.fail("must not run"), lock)
    assert read_last_run(lock) is None  # a refused run records nothing
    assert run_locked(lambda: 42, lock) == 42
    first = read_last_run(lock)
    assert first is not None and datetime.now(UTC) - first < timedelta(seconds=5)
    with pytest.raises(ZeroDivisionError):
        run_locked(lambda: 1 / 0, lock)
    assert read_last_run(lock) >= first  # failures are recorded too (no catch-up storm after a crash)


def test_two_threads_never_overlap(tmp_path):
    lock = lock_path(tmp_path)
    active, overlaps, refused = [], [], []

    def job():
        active.append(1)
        overlaps.append(len(active))
        time.sleep(0.3)
        active.pop()

    def attempt():
        try:
            run_locked(job, lock)
        except RunInProgress:
            refused.append(1)

    threads = [threading.Thread(target=attempt) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert max(overlaps) == 1 and len(overlaps) + len(refused) == 3 and refused


def test_missed_fire_times():
    now = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
    daily = ScheduleSpec(cron="0 3 * * *")
    assert missed_since(daily, None, now)  # never ran
    assert not missed_since(daily, datetime(2026, 1, 10, 3, 0, 5, tzinfo=UTC), now)  # ran today at 3:00
    assert missed_since(daily, datetime(2026, 1, 9, 3, 0, 5, tzinfo=UTC), now)  # today's 3:00 was missed
    assert missed_since(daily, datetime(2026, 1, 1, tzinfo=UTC), now)  # many missed: still one catch-up
    hourly = ScheduleSpec(interval_minutes=60)
    assert not missed_since(hourly, now - timedelta(minutes=30), now)
    assert missed_since(hourly, now - timedelta(minutes=61), now)
    with pytest.raises(ValueError, match="exactly one of cron or interval_minutes"):
        ScheduleSpec()
    with pytest.raises(ValueError, match="invalid cron expression"):
        build_scheduler(
            ScheduleSpec(cron="61 * * * *"), lambda: None, lock_path(".."), scheduler=BackgroundScheduler()
        )


def _run_scheduler(spec, lock, seconds):
    runs = []
    scheduler = build_scheduler(
        spec, lambda: runs.append(time.monotonic()), lock, scheduler=BackgroundScheduler()
    )
    scheduler.start()
    try:
        time.sleep(seconds)
    finally:
        scheduler.shutdown(wait=True)
    return runs


def test_scheduler_catches_up_once_after_downtime(tmp_path):
    lock = lock_path(tmp_path)
    daily = ScheduleSpec(cron="0 3 * * *")
    write_last_run(lock, datetime.now(UTC) - timedelta(days=5), "ok")  # five fire times missed
    assert len(_run_scheduler(daily, lock, 1.0)) == 1
    # the catch-up recorded a run: restarting now runs nothing until the next fire time
    assert _run_scheduler(daily, lock, 1.0) == []


def test_interval_schedule_repeats_and_skips_while_locked(tmp_path):
    lock = lock_path(tmp_path)
    write_last_run(lock, datetime.now(UTC), "ok")
    spec = ScheduleSpec(interval_minutes=0.5 / 60)  # every 0.5 s
    runs = _run_scheduler(spec, lock, 1.8)
    assert 2 <= len(runs) <= 4
    with FileLock(str(lock)):  # another run holds the lock: scheduled runs are skipped, not queued
        assert _run_scheduler(spec, lock, 1.2) == []
