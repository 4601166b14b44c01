"""The admin's configuration: `config.toml`, validated once at start.

Why pydantic with ``extra="forbid"``: a typo in a key (``quiet_periode_s``) must stop the node with a
line naming that key, not be silently ignored while the node runs on a default the admin did not want.
Every key has a default, so a node with no file at all runs on the embedded defaults (SQLite + local
folders under one data directory, port 11112, AE title DICOMNODE).
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

CONFIG_ENV = "DICOMNODE_CONFIG"
DEFAULT_CONFIG_NAME = "config.toml"

_AE_TITLE = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")  # PS3.5 AE VR: no backslash, no control chars
_UID_ROOT = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")


class ConfigError(Exception):
    """A configuration problem, worded as one line for the admin (it names the key or the cause)."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


def _check_ae_title(value: str) -> str:
    if not _AE_TITLE.match(value) or not value.strip():
        raise ValueError(f"{value!r} is not a valid AE title (1-16 printable ASCII characters, no backslash)")
    return value.strip()


class NodeSettings(_Section):
    """[node]: how PACS reach us."""

    ae_title: str = "DICOMNODE"
    bind_address: str = "0.0.0.0"
    port: Annotated[int, Field(ge=1, le=65535)] = 11112
    max_associations: Annotated[int, Field(ge=1, le=1000)] = 10
    max_pdu: Annotated[int, Field(ge=0, le=2**32 - 1)] = 16382
    network_timeout_s: Annotated[float, Field(gt=0)] = 60.0
    accept_other_storage: bool = True
    """Accept (and keep, never analyse) other storage SOP classes of a routed study."""

    _ae = field_validator("ae_title")(classmethod(lambda cls, v: _check_ae_title(v)))


class SecuritySettings(_Section):
    """[security]: who may talk to us."""

    allowed_calling_ae_titles: list[str] = Field(default_factory=lambda: ["STORESCU", "ECHOSCU", "ORTHANC"])
    """``["*"]`` accepts any calling AE title."""
    allowed_hosts: list[str] = Field(default_factory=list)
    """Empty: any host. Otherwise peer IP addresses allowed to associate."""
    tls_certificate: Path | None = None
    tls_key: Path | None = None
    tls_ca: Path | None = None

    @field_validator("allowed_calling_ae_titles")
    @classmethod
    def _titles(cls, values: list[str]) -> list[str]:
        return [v if v == "*" else _check_ae_title(v) for v in values]

    @model_validator(mode="after")
    def _tls_pair(self) -> SecuritySettings:
        if (self.tls_certificate is None) != (self.tls_key is None):
            raise ValueError("tls_certificate and tls_key must be set together")
        for path in (self.tls_certificate, self.tls_key, self.tls_ca):
            if path is not None and not Path(path).is_file():
                raise ValueError(f"TLS file {path} does not exist")
        return self

    @property
    def any_calling_ae(self) -> bool:
        return "*" in self.allowed_calling_ae_titles


class StorageSettings(_Section):
    """[storage]: where instances and the index live."""

    data_dir: Path = Path("dicomnode-data")
    database_url: str = ""
    """Empty: SQLite (WAL) at ``<data_dir>/dicomnode.sqlite``. PostgreSQL: ``postgresql+psycopg://...``."""
    min_free_disk_mb: Annotated[int, Field(ge=0)] = 1024
    duplicates: Literal["keep_first", "replace"] = "keep_first"
    """Same SOP Instance UID with different content: keep the first copy (the new one goes aside)."""

    @field_validator("database_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if value and not re.match(r"^(sqlite|postgresql)(\+\w+)?://", value):
            raise ValueError("must start with sqlite:// or postgresql:// (or be empty for the default)")
        return value

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'dicomnode.sqlite').resolve()}"


class SeriesSettings(_Section):
    """[series]: when a series counts as complete."""

    quiet_period_s: Annotated[float, Field(gt=0)] = 30.0
    hard_cap_s: Annotated[float, Field(gt=0)] = 900.0
    late_arrivals: Literal["reprocess", "ignore"] = "reprocess"
    tick_interval_s: Annotated[float, Field(gt=0)] = 5.0
    companion_wait_s: Annotated[float, Field(ge=0)] = 300.0
    """How long a complete T2/STIR series waits for a T1 sibling (same study, same frame of reference,
    sagittal) that is still receiving, so its Modic typing can use it; 0: never wait."""

    @model_validator(mode="after")
    def _cap(self) -> SeriesSettings:
        if self.hard_cap_s < self.quiet_period_s:
            raise ValueError("hard_cap_s must not be shorter than quiet_period_s")
        if self.companion_wait_s > self.hard_cap_s:
            raise ValueError("companion_wait_s must not be longer than hard_cap_s")
        return self


Plane = Literal["sagittal", "axial", "coronal", "oblique"]


class RoutingRule(_Section):
    """One [[routing.rules]] entry. Every condition given must hold (AND); rules are tried in order."""

    name: str
    action: Literal["analyse", "ignore"] = "analyse"
    modality: list[str] | None = None
    sop_classes: list[str] | None = None
    plane: Plane | None = None
    plane_tolerance_deg: Annotated[float, Field(ge=0, le=45)] = 20.0
    series_description_include: str | None = None
    series_description_exclude: str | None = None
    protocol_name_include: str | None = None
    protocol_name_exclude: str | None = None
    body_part_include: str | None = None
    body_part_exclude: str | None = None
    calling_ae_titles: list[str] | None = None
    min_slices: Annotated[int, Field(ge=1)] | None = None

    @field_validator(
        "series_description_include", "series_description_exclude", "protocol_name_include",
        "protocol_name_exclude", "body_part_include", "body_part_exclude",
    )
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
        return value


def _default_rules() -> list[RoutingRule]:
    return [
        RoutingRule(
            name="sagittal-spine-mr",
            action="analyse",
            modality=["MR"],
            sop_classes=["1.2.840.10008.5.1.4.1.1.4", "1.2.840.10008.5.1.4.1.1.4.1"],
            plane="sagittal",
            series_description_exclude=r"(?i)localizer|scout|survey|3-plane",
            min_slices=5,
        )
    ]


class RoutingSettings(_Section):
    """[routing]: which complete series are analysed. First matching rule wins."""

    rules: list[RoutingRule] = Field(default_factory=_default_rules)
    default_action: Literal["analyse", "ignore"] = "ignore"


class PipelineSettings(_Section):
    """[pipeline]: the analysis workers."""

    device: str = "auto"
    model: Path | None = None
    """Weights file; empty: the model bundled with the package."""
    model_sha256: str | None = None
    """Expected SHA-256 of ``model``; empty: the checksum in the weights' sidecar JSON."""
    half_precision: bool = False
    fine_pass: bool = True
    """A second network pass on a 1.0 mm grid for the boundaries (about twice the network time)."""
    rib_evidence: bool = True
    """Judge which vertebrae carry a rib, so a sixth lumbar vertebra can be named without C2 in view."""
    rib_model: Path | None = None
    """Rib classifier weights; empty: the one bundled with the package (none shipped: no rib evidence)."""
    rib_model_sha256: str | None = None
    """Expected SHA-256 of ``rib_model``; empty: the checksum in its sidecar JSON."""
    workers: Annotated[int, Field(ge=0, le=64)] = 1
    """Worker threads inside `dicomnode serve`; 0 when separate `dicomnode worker` processes run."""
    job_lease_s: Annotated[float, Field(gt=0)] = 600.0
    max_attempts: Annotated[int, Field(ge=1, le=100)] = 3
    retry_backoff_s: Annotated[float, Field(ge=0)] = 30.0

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if not re.match(r"^(auto|cpu|cuda(:\d+)?)$", value):
            raise ValueError(f"{value!r} is not one of auto, cpu, cuda, cuda:N")
        return value


class OutputSettings(_Section):
    """[outputs]: what the node builds from each analysis."""

    uid_root: str = "2.25"
    seg: bool = True
    sr: bool = True
    picture: bool = True
    gsps: bool = False
    seg_series_number: Annotated[int, Field(ge=1)] = 9901
    sr_series_number: Annotated[int, Field(ge=1)] = 9902
    picture_series_number: Annotated[int, Field(ge=1)] = 9903
    gsps_series_number: Annotated[int, Field(ge=1)] = 9904
    keep_empty_frames: bool = False

    @field_validator("uid_root")
    @classmethod
    def _root(cls, value: str) -> str:
        if not _UID_ROOT.match(value) or len(value) > 40:
            raise ValueError(f"{value!r} is not a UID root (dotted digits, at most 40 characters)")
        return value


OutputKind = Literal["seg", "sr", "picture", "gsps"]


class Destination(_Section):
    """One [[destinations]] entry: a peer that receives our results over C-STORE."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
    ae_title: str
    host: str
    port: Annotated[int, Field(ge=1, le=65535)]
    calling_ae_title: str | None = None
    tls: bool = False
    outputs: list[OutputKind] = Field(default_factory=lambda: ["seg", "sr", "picture"])

    _ae = field_validator("ae_title")(classmethod(lambda cls, v: _check_ae_title(v)))


class DeliverySettings(_Section):
    """[delivery]: retry policy of the outbox."""

    max_attempts: Annotated[int, Field(ge=1, le=1000)] = 10
    rejected_max_attempts: Annotated[int, Field(ge=1, le=100)] = 3
    backoff_initial_s: Annotated[float, Field(ge=0)] = 5.0
    backoff_max_s: Annotated[float, Field(ge=0)] = 900.0
    timeout_s: Annotated[float, Field(gt=0)] = 30.0


def grading_settings(table: dict[str, Any]):  # type: ignore[no-untyped-def]
    """The grading stage's own settings from the [grading] table: one list of keys, kept by the grader."""
    from pipeline.grading.settings import GradingSettings

    try:
        return GradingSettings.from_mapping(table)
    except TypeError as exc:
        raise ValueError(f"wrong type: {exc}") from None


class LoggingSettings(_Section):
    """[logging]."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    file: Path | None = None
    log_patient_identifiers: bool = False


class Settings(_Section):
    """The whole `config.toml`."""

    node: NodeSettings = Field(default_factory=NodeSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    series: SeriesSettings = Field(default_factory=SeriesSettings)
    routing: RoutingSettings = Field(default_factory=RoutingSettings)
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)
    outputs: OutputSettings = Field(default_factory=OutputSettings)
    destinations: list[Destination] = Field(default_factory=list)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    grading: dict[str, Any] = Field(default_factory=dict)
    """[grading]: thresholds of the disc-level grades (see pipeline.grading.settings.GradingSettings)."""
    logging: LoggingSettings = Field(default_factory=LoggingSettings)

    @field_validator("grading")
    @classmethod
    def _grading(cls, table: dict[str, Any]) -> dict[str, Any]:
        grading_settings(table)
        return table

    @model_validator(mode="after")
    def _unique_destinations(self) -> Settings:
        names = [d.name for d in self.destinations]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"destination names must be unique: {', '.join(duplicates)}")
        return self


def _describe(error: dict[str, Any]) -> str:
    location = ".".join(str(part) for part in error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    return f"{location}: {message}" if location else message


def find_config(explicit: Path | None) -> Path | None:
    """``--config FILE``, else ``$DICOMNODE_CONFIG``, else ``./config.toml``; None means embedded defaults."""
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"{explicit}: config file not found")
        return explicit
    from_env = os.environ.get(CONFIG_ENV)
    if from_env:
        path = Path(from_env)
        if not path.is_file():
            raise ConfigError(f"{path}: config file named by {CONFIG_ENV} not found")
        return path
    local = Path(DEFAULT_CONFIG_NAME)
    return local if local.is_file() else None


def load_settings(explicit: Path | None = None) -> tuple[Settings, Path | None]:
    """Read and validate the configuration; raise :class:`ConfigError` with one line on any problem.

    Relative paths in the file are taken relative to the file's folder, so a node started from another
    working directory still finds its data.
    """
    path = find_config(explicit)
    if path is None:
        return Settings(), None
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ConfigError(f"{path}: {_describe(first)}{more}") from None
    base = path.parent.resolve()
    storage = settings.storage
    if not storage.data_dir.is_absolute():
        storage.data_dir = base / storage.data_dir
    if settings.pipeline.model is not None and not settings.pipeline.model.is_absolute():
        settings.pipeline.model = base / settings.pipeline.model
    return settings, path
