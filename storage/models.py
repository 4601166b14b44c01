"""The index database: one typed SQLAlchemy 2 model per thing the node keeps track of.

The database never holds patient names, IDs or birth dates: those stay in the DICOM files. What is here
is enough to run the node (which series are complete, which jobs run, what was sent where) and to
answer an admin's questions in `dicomnode status`.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> dt.datetime:
    """Naive UTC timestamps: SQLite has no time zones, so every column stores UTC by convention."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class SeriesState(enum.StrEnum):
    receiving = "receiving"  # instances are arriving; waiting for the quiet period
    queued = "queued"  # a job was queued for the current instance set
    ignored = "ignored"  # the routing rules said no (rule and reason recorded)


class JobState(enum.StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"  # will be retried after its backoff
    dead = "dead"  # attempts exhausted; `dicomnode retry` revives it


class DeliveryState(enum.StrEnum):
    pending = "pending"
    sending = "sending"
    sent = "sent"
    dead = "dead"


def _enum(cls: type[enum.Enum]) -> Enum:
    # Plain VARCHAR + CHECK rather than native enums: adding a state later is a simple migration.
    return Enum(cls, native_enum=False, length=16, validate_strings=True)


class Study(Base):
    __tablename__ = "studies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_uid: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    series: Mapped[list[Series]] = relationship(back_populates="study")


class Series(Base):
    __tablename__ = "series"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    series_uid: Mapped[str] = mapped_column(String(64), unique=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"))
    modality: Mapped[str | None] = mapped_column(String(16))
    sop_class_uid: Mapped[str | None] = mapped_column(String(64))
    series_number: Mapped[int | None] = mapped_column(Integer)
    series_description: Mapped[str | None] = mapped_column(String(128))
    protocol_name: Mapped[str | None] = mapped_column(String(128))
    body_part: Mapped[str | None] = mapped_column(String(64))
    orientation: Mapped[str | None] = mapped_column(String(128))
    """ImageOrientationPatient of the first instance, backslash-separated, for the plane rule."""
    frame_of_reference_uid: Mapped[str | None] = mapped_column(String(64))
    """FrameOfReferenceUID of the first instance: a T1 companion must share it with the analysed series."""
    contrast: Mapped[str | None] = mapped_column(String(8))
    """``"T2"``, ``"T1"``, ``"STIR"`` or None, from the loader's contrast hint on the first instance."""
    calling_ae_title: Mapped[str | None] = mapped_column(String(16))
    own_output: Mapped[bool] = mapped_column(Boolean, default=False)
    """Made by a dicomnode (ours or another): never analysed, so results cannot loop."""
    state: Mapped[SeriesState] = mapped_column(_enum(SeriesState), default=SeriesState.receiving)
    decision_rule: Mapped[str | None] = mapped_column(String(128))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    first_received_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    last_received_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    study: Mapped[Study] = relationship(back_populates="series")
    instances: Mapped[list[Instance]] = relationship(back_populates="series")
    jobs: Mapped[list[Job]] = relationship(back_populates="series", foreign_keys="Job.series_id")

    __table_args__ = (Index("ix_series_state_last", "state", "last_received_at"),)


class Instance(Base):
    __tablename__ = "instances"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sop_instance_uid: Mapped[str] = mapped_column(String(64), unique=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("series.id"), index=True)
    sop_class_uid: Mapped[str] = mapped_column(String(64))
    transfer_syntax_uid: Mapped[str] = mapped_column(String(64))
    instance_number: Mapped[int | None] = mapped_column(Integer)
    frames: Mapped[int] = mapped_column(Integer, default=1)
    """Number of frames (Enhanced MR holds a whole series in one instance)."""
    path: Mapped[str] = mapped_column(String(512))
    """Relative to the data directory."""
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    series: Mapped[Series] = relationship(back_populates="instances")


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_key: Mapped[str] = mapped_column(String(160), unique=True)
    """series UID + digest of the instance set + pipeline version: the same input never runs twice."""
    series_id: Mapped[int] = mapped_column(ForeignKey("series.id"), index=True)
    instance_digest: Mapped[str] = mapped_column(String(64))
    instance_count: Mapped[int] = mapped_column(Integer)
    companion_series_id: Mapped[int | None] = mapped_column(ForeignKey("series.id"))
    """The T1 series of the same study and frame of reference the job loads for Modic typing, if any."""
    companion_digest: Mapped[str | None] = mapped_column(String(64))
    """Digest of the companion's instance set when queued; part of the job key (a new T1 is a new job)."""
    pipeline_version: Mapped[str] = mapped_column(String(32))
    state: Mapped[JobState] = mapped_column(_enum(JobState), default=JobState.queued)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    available_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    worker_id: Mapped[str | None] = mapped_column(String(128))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    series: Mapped[Series] = relationship(back_populates="jobs", foreign_keys=[series_id])
    outputs: Mapped[list[Output]] = relationship(back_populates="job")

    __table_args__ = (Index("ix_jobs_claim", "state", "available_at"),)


class Output(Base):
    """A DICOM object (or findings.json) the node built for a job, kept in the outbox folder."""

    __tablename__ = "outputs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    sop_instance_uid: Mapped[str | None] = mapped_column(String(64), unique=True)
    sop_class_uid: Mapped[str | None] = mapped_column(String(64))
    transfer_syntax_uid: Mapped[str | None] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(512))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    job: Mapped[Job] = relationship(back_populates="outputs")
    deliveries: Mapped[list[Delivery]] = relationship(back_populates="output")


class Delivery(Base):
    """One output to one destination: the outbox row the sender works through."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    output_id: Mapped[int] = mapped_column(ForeignKey("outputs.id"), index=True)
    destination: Mapped[str] = mapped_column(String(64))
    state: Mapped[DeliveryState] = mapped_column(_enum(DeliveryState), default=DeliveryState.pending)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    rejections: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    output: Mapped[Output] = relationship(back_populates="deliveries")

    __table_args__ = (
        UniqueConstraint("output_id", "destination", name="uq_delivery_output_destination"),
        Index("ix_deliveries_due", "state", "destination", "next_attempt_at"),
    )


class Event(Base):
    """The audit trail: what happened to each association, series, job and delivery. No PHI."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    kind: Mapped[str] = mapped_column(String(48), index=True)
    series_id: Mapped[int | None] = mapped_column(Integer, index=True)
    job_id: Mapped[int | None] = mapped_column(Integer)
    delivery_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str | None] = mapped_column(Text)
