"""Re-ingestion on a schedule: a cron expression or an interval, one run at a time, catching up at most once.

Runs are serialised by a file lock shared with ``scprint-graph ingest``: a run that finds the lock held is
skipped (logged), never queued. The time of the last finished run is kept in a small JSON state file next to
the lock; when the scheduler starts and a fire time passed since then (the machine was down), one run starts
at once, however many fire times were missed. APScheduler's ``coalesce`` does the same for fire times missed
while the process was alive but busy or suspended.
"""

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from filelock import FileLock, Timeout

from ingest.config import ScheduleSpec

logger = logging.getLogger(__name__)

LOCK_NAME = ".scprint-ingest.lock"
STATE_NAME = ".scprint-ingest-state.json"


class RunInProgress(RuntimeError):
    """Another ingestion run holds the lock."""


def lock_path(store: Path, spec: ScheduleSpec | None = None) -> Path:
    """The lock file of a store: ``[schedule] lock`` or ``<store>/.scprint-ingest.lock``."""
    if spec is not None and spec.lock is not None:
        return spec.lock
    return Path(store) / LOCK_NAME


def state_path(lock: Path) -> Path:
    """The schedule's state file, beside the lock."""
    return lock.with_name(STATE_NAME)


def read_last_run(lock: Path) -> datetime | None:
    """When the last run finished (UTC), or None if none is recorded."""
    path = state_path(lock)
    if not path.is_file():
        return None
    state = json.loads(path.read_text())
    return datetime.fromisoformat(state["last_run_at"])


def write_last_run(lock: Path, when: datetime, status: str) -> None:
    """Record a finished run (written to a temporary file, then renamed)."""
    path = state_path(lock)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"last_run_at": when.isoformat(), "status": status}))
    tmp.replace(path)


def run_locked(job: Callable[[], object], lock: Path):
    """Run ``job`` holding the lock; raise ``RunInProgress`` at once if another run holds it.

    The finish time is recorded (also after a failure, with status ``failed``), so a crash loop does not
    retrigger catch-up runs; the exception still propagates.
    """
    lock.parent.mkdir(parents=True, exist_ok=True)
    file_lock = FileLock(str(lock), timeout=0)
    try:
        file_lock.acquire()
    except Timeout as err:
        msg = f"another ingestion run holds {lock}; not starting a second one"
        raise RunInProgress(msg) from err
    try:
        status = "failed"
        result = job()
        status = "ok"
        return result
    finally:
        write_last_run(lock, datetime.now(UTC), status)
        file_lock.release()


def make_trigger(spec: ScheduleSpec):
    """The APScheduler trigger of a ``[schedule]`` table."""
    if spec.cron is not None:
        try:
            return CronTrigger.from_crontab(spec.cron, timezone=spec.timezone)
        except ValueError as err:
            msg = f"invalid cron expression {spec.cron!r}: {err}"
            raise ValueError(msg) from err
    return IntervalTrigger(minutes=spec.interval_minutes, timezone=spec.timezone)


def missed_since(spec: ScheduleSpec, last_run: datetime | None, now: datetime) -> bool:
    """Whether a fire time passed between the last run and now (True when no run was ever recorded)."""
    if last_run is None:
        return True
    if spec.interval_minutes is not None:
        return now - last_run >= timedelta(minutes=spec.interval_minutes)
    trigger = make_trigger(spec)
    following = trigger.get_next_fire_time(None, last_run + timedelta(seconds=1))
    return following is not None and following <= now


def build_scheduler(
    spec: ScheduleSpec,
    job: Callable[[], object],
    lock: Path,
    *,
    scheduler: BaseScheduler | None = None,
    now: datetime | None = None,
) -> BaseScheduler:
    """A scheduler running ``job`` under the lock on the spec's trigger, with one catch-up run if missed.

    Parameters
    ----------
    spec
        The ``[schedule]`` table.
    job
        One ingestion run.
    lock
        Lock file shared with other runs.
    scheduler
        The APScheduler scheduler to fill (a blocking one by default; tests pass a background one).
    now
        The current time (tests).
    """
    scheduler = scheduler or BlockingScheduler(timezone=spec.timezone)
    now = now or datetime.now(UTC)

    def guarded() -> None:
        try:
            run_locked(job, lock)
        except RunInProgress as err:
            logger.warning("%s", err)
        except Exception:
            logger.exception("scheduled ingestion run failed; the next fire time will try again")

    kwargs = {"coalesce": True, "max_instances": 1, "misfire_grace_time": None}
    last = read_last_run(lock)
    if missed_since(spec, last, now):
        logger.info("a scheduled run was missed since %s: catching up once now", last or "never")
        kwargs["next_run_time"] = now
    scheduler.add_job(guarded, make_trigger(spec), id="ingest", **kwargs)
    return scheduler
