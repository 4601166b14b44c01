"""`dicomnode status`, `jobs`, `retry`, `db upgrade`: the admin's view of the node, as readable tables."""

from __future__ import annotations

import shutil
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import func, select

from dicomnode.commands.common import ConfigOption, console, fail, settings_or_exit
from dicomnode.config import ConfigError, Settings
from storage.models import Delivery, DeliveryState, Event, Instance, Job, JobState, Series, SeriesState


def _open(settings: Settings):  # type: ignore[no-untyped-def]
    from dicomnode.service import open_storage

    try:
        return open_storage(settings)
    except ConfigError as exc:
        raise fail(str(exc), 2) from None


def _counts(session, column, states) -> dict[str, int]:  # type: ignore[no-untyped-def]
    rows = dict(session.execute(select(column, func.count()).group_by(column)).all())
    return {state.value: int(rows.get(state, 0)) for state in states}


def status(config: ConfigOption = None) -> None:
    """Counts by state, disk, last activity."""
    settings = settings_or_exit(config)
    db, store = _open(settings)
    with db.session() as session:
        series = _counts(session, Series.state, SeriesState)
        jobs = _counts(session, Job.state, JobState)
        deliveries = _counts(session, Delivery.state, DeliveryState)
        instances = session.scalar(select(func.count(Instance.id))) or 0
        last_instance = session.scalar(select(func.max(Instance.received_at)))
        last_event = session.scalar(select(func.max(Event.at)))
        dead = session.execute(
            select(Delivery.id, Delivery.destination, Delivery.last_error)
            .where(Delivery.state == DeliveryState.dead).order_by(Delivery.id).limit(10)).all()
    usage = shutil.disk_usage(store.root)
    table = Table(title=f"dicomnode {settings.node.ae_title} — {store.root}", show_header=True)
    table.add_column("what")
    table.add_column("count / value", justify="right")
    table.add_row("instances stored", str(instances))
    for name, counts in (("series", series), ("jobs", jobs), ("deliveries", deliveries)):
        for state, count in counts.items():
            table.add_row(f"{name} {state}", str(count))
    table.add_row("disk free", f"{usage.free / 2**30:.1f} GiB of {usage.total / 2**30:.1f} GiB")
    table.add_row("last instance received (UTC)", str(last_instance or "never"))
    table.add_row("last activity (UTC)", str(last_event or "never"))
    console.print(table)
    if dead:
        console.print("[red]dead deliveries[/red] (revive with `dicomnode retry --delivery ID`):")
        for delivery_id, destination, error in dead:
            console.print(f"  #{delivery_id} to {destination}: {(error or '').splitlines()[0][:120]}")


def jobs(
    config: ConfigOption = None,
    state: Annotated[JobState | None, typer.Option("--state", "-s", help="Only jobs in this state.")] = None,
    limit: Annotated[int, typer.Option(help="Newest N jobs.")] = 50,
) -> None:
    """List jobs with their state, attempts and last error."""
    settings = settings_or_exit(config)
    db, _ = _open(settings)
    query = select(Job, Series).join(Series, Job.series_id == Series.id).order_by(Job.id.desc()).limit(limit)
    if state is not None:
        query = query.where(Job.state == state)
    table = Table(show_header=True)
    for column in ("job", "state", "attempts", "series", "instances", "created (UTC)", "finished (UTC)",
                   "error"):
        table.add_column(column)
    with db.session() as session:
        for job, series in session.execute(query).all():
            label = f"#{series.series_number or '?'} {series.series_description or ''}".strip()
            error = (job.error or "").splitlines()[0][:60] if job.error else ""
            table.add_row(str(job.id), job.state.value, f"{job.attempts}/{job.max_attempts}", label,
                          str(job.instance_count), f"{job.created_at:%Y-%m-%d %H:%M:%S}",
                          f"{job.finished_at:%Y-%m-%d %H:%M:%S}" if job.finished_at else "", error)
    console.print(table)


def retry(
    job_id: Annotated[int | None, typer.Argument(help="Job to run again (dead or failed).")] = None,
    delivery: Annotated[int | None, typer.Option("--delivery", help="Dead delivery to send again.")] = None,
    config: ConfigOption = None,
) -> None:
    """Revive a dead job or a dead delivery."""
    from dicomnode.send import make_outbox
    from dicomnode.service import make_queue

    settings = settings_or_exit(config)
    db, _ = _open(settings)
    if (job_id is None) == (delivery is None):
        raise fail("give either a JOB id or --delivery ID")
    if job_id is not None:
        if not make_queue(settings, db).retry(job_id):
            raise fail(f"job {job_id} does not exist or is not dead/failed")
        console.print(f"job {job_id} queued again")
        return
    if not make_outbox(settings, db).retry(delivery or 0):
        raise fail(f"delivery {delivery} does not exist or is not dead")
    console.print(f"delivery {delivery} pending again")


db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(config: ConfigOption = None) -> None:
    """Migrate the database schema to the newest version (the node also does this at start)."""
    settings = settings_or_exit(config)
    _open(settings)
    console.print("database schema is up to date")
