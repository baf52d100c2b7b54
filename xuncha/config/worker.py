"""The worker's configuration file: cameras, their zone sets, detectors, broker and storage.

Relative paths in the file are relative to the file's own directory. Errors name the file,
the camera and the field.
"""

from __future__ import annotations

import difflib
import logging
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from xuncha.clues.contracts import GeoPoint
from xuncha.clues.limits import ID_CHARS, NAME_CHARS
from xuncha.confirm import ConfirmParams
from xuncha.detector.stationary import StationaryParams
from xuncha.recheck.core import RecheckParams
from xuncha.taxonomy import Taxonomy, load_taxonomy
from xuncha.text.ocr import ocr_available
from xuncha.text.stage import TextParams
from xuncha.view.check import FRACTIONS, ViewParams
from xuncha.yamlfile import ConfigError, TimeZoneName, read_yaml, validate
from xuncha.zones.model import ZoneSet, check_zone_set
from xuncha.zones.regions import Region


class FixtureSetting(BaseModel):
    """A permanent object marked not-a-violation (固定设施); its spot is never reported."""

    model_config = ConfigDict(extra="forbid")
    zone: str | None = Field(None, description="Zone id, or empty for every zone")
    category: str | None = Field(None, description="Category code, or empty for every category")
    box: tuple[float, float, float, float] = Field(description="x1, y1, x2, y2 normalised 0-1")


log = logging.getLogger(__name__)

# What the stream reader (FFmpeg through PyAV) is given: RTSP cameras, and the RTMP/HTTP-FLV/HLS some platforms relay.
STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https")


class CameraConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=ID_CHARS, title="点位编号", description="Stable camera id"
    )
    name: str = Field("", max_length=NAME_CHARS, title="点位名称", description="Name shown to operators (点位名称)")
    source: str = Field(
        title="视频源",
        description="Video file path, folder of timestamped stills (times from the file names, see "
        "xuncha/streams/stills.py) or stream URL (rtsp://, rtsps://, rtmp://, http(s)://)",
    )
    enabled: bool = Field(True, title="启用", description="Disabled cameras are kept but not sampled")
    sample_interval_s: float = Field(
        2.0, gt=0, title="抽帧间隔（秒）", description="Seconds between samples (video time for files)"
    )
    preset: str | None = Field(None, title="预置位", description="PTZ preset the zones were drawn for")
    location: GeoPoint | None = Field(
        None, title="位置", description="Where the camera looks (for region lookup and cases)"
    )
    region: Region | None = Field(None, title="镇街", description="镇街; wins over the GeoJSON lookup")
    start_time: datetime | None = Field(
        None,
        description="Video files only: wall time of the first frame (default: when the worker starts); "
        "stills carry their own times",
    )
    sampling: Literal["keyframes", "interval", "patrol"] = Field(
        "keyframes",
        title="抽帧方式",
        description="Live streams: decode keyframes only (cheapest), one frame per interval (long GOPs), "
        "or patrol (connect, grab one frame, disconnect: for platforms that limit concurrent pulls)",
    )
    zones: ZoneSet = Field(title="区域", description="Zones drawn on this camera's reference picture")
    fixtures: list[FixtureSetting] = Field(default_factory=list, description="Known permanent objects")

    @model_validator(mode="before")
    @classmethod
    def _zones_list(cls, data: Any) -> Any:
        # `zones:` may be a bare list of zones as a shorthand for a zone set.
        if isinstance(data, dict) and isinstance(data.get("zones"), list):
            data = {**data, "zones": {"zones": data["zones"]}}
        return data

    @field_validator("source")
    @classmethod
    def _known_scheme(cls, v: str) -> str:
        scheme = v.split("://", 1)[0].lower() if "://" in v else None
        if scheme is not None and scheme not in STREAM_SCHEMES:
            # Swapped letters first (rtps), then what difflib finds closest.
            close = [s for s in STREAM_SCHEMES if sorted(s) == sorted(scheme)]
            close = close or difflib.get_close_matches(scheme, STREAM_SCHEMES, n=1)
            hint = f" (did you mean {close[0]}://?)" if close else ""
            raise ValueError(
                f"unknown URL scheme '{scheme}'{hint}: a stream URL starts with "
                f"{', '.join(s + '://' for s in STREAM_SCHEMES)}; anything else is a file path"
            )
        return v

    @property
    def is_file(self) -> bool:
        return "://" not in self.source


class DetectorSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    models: list[str] = Field(
        default_factory=list,
        description="ONNX models: card names (xuncha models list) or paths to .onnx files",
    )
    conf: float = Field(0.25, ge=0, le=1, description="Lowest score kept by the ONNX detector")
    threads: int | None = Field(
        None, ge=1, description="onnxruntime intra-op threads per batch (default: cores / parallel, at least 1)"
    )
    batch_size: int = Field(8, ge=1, description="Frames per inference batch, across cameras")
    parallel: int | None = Field(None, ge=1, description="Batches run at the same time (default: one per core)")
    stationary: bool = Field(True, description="Run the stationary-object model (label static_object)")
    second_look: bool = Field(
        True,
        description="Models whose card sets second_look look again at crops around stationary objects "
        "(pipeline/look.py); false saves their extra inferences",
    )


class RecheckSettings(BaseModel):
    """Automatic rectification check (自动核查) of handled cases."""

    model_config = ConfigDict(extra="forbid")
    samples: int = Field(3, ge=1, description="Samples the verdict is made from")
    span_s: float = Field(600, ge=0, description="Seconds the samples are spread over")
    within_h: float = Field(24, gt=0, description="Hours after the handled report before giving up (无法核查)")
    min_present: int | None = Field(None, ge=1, description="Samples with the object for 未整改; empty = majority")
    exchange: str = Field("xuncha.cases", description="The review service's dispatch.exchange")

    def params(self) -> RecheckParams:
        return RecheckParams(self.samples, self.span_s, self.within_h, self.min_present)


class WorkerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    data_dir: Path = Field(Path("var"), description="Where the embedded broker, evidence and spool live")
    broker_url: str | None = Field(None, description="kombu URL; empty = embedded SQLite broker in data_dir")
    evidence_dir: Path | None = Field(None, description="Evidence store; empty = data_dir/evidence")
    taxonomy: Path | None = Field(None, description="Category file; empty = the embedded configs/taxonomy.yaml")
    regions: Path | None = Field(None, description="GeoJSON of 镇街 polygons for region lookup")
    timezone: TimeZoneName = Field("Asia/Shanghai", description="Local time zone for active hours and evidence stamps")
    leases_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the database holding camera leases (postgresql+psycopg://... when several "
        "workers share the cameras); empty = this worker owns every camera",
    )
    worker_id: str | None = Field(None, description="Name of this worker in leases; empty = host name and pid")
    lease_ttl_s: float = Field(15.0, gt=0, description="A dead worker's cameras are taken over after this long")
    review_url: str | None = Field(
        None, description="Review service base URL: the worker fetches each camera's fixtures (固定设施) from it"
    )
    review_token: str | None = Field(
        None, description="Worker API token for the review service (or the XUNCHA_REVIEW_TOKEN environment variable)"
    )
    metrics_port: int | None = Field(None, ge=0, le=65535, description="Port of /health and /metrics; empty = off")
    detectors: DetectorSettings = Field(default_factory=DetectorSettings)
    stationary: dict[str, float] = Field(default_factory=dict, description="StationaryParams overrides")
    confirm: dict[str, float] = Field(default_factory=dict, description="ConfirmParams overrides")
    text: dict[str, float] = Field(
        default_factory=dict, description="TextParams overrides (OCR schedule of zones with a text rule)"
    )
    view_check: dict[str, float] = Field(
        default_factory=dict,
        description="ViewParams overrides of the check against the reference picture (tolerance, changed_after, ...)",
    )
    recheck: RecheckSettings = Field(default_factory=RecheckSettings)
    cameras_from_service: bool = Field(
        False,
        description="Fetch the cameras and their zones from the review service (review_url, worker token) instead "
        "of `cameras:`; changes apply without a restart, and the last good copy in data_dir is used while the "
        "service cannot be reached",
    )
    cameras: list[CameraConfig] = Field(default_factory=list, description="The cameras (unless cameras_from_service)")

    @model_validator(mode="after")
    def _unique_cameras(self) -> WorkerConfig:
        if self.cameras_from_service and not self.review_url:
            raise ValueError("cameras_from_service needs review_url")
        if not self.cameras_from_service and not self.cameras:
            raise ValueError("cameras: give at least one camera (or cameras_from_service: true)")
        seen: set[str] = set()
        for cam in self.cameras:
            if cam.id in seen:
                raise ValueError(f"duplicate camera id {cam.id!r}")
            seen.add(cam.id)
        return self

    def confirm_params(self, sample_interval_s: float) -> ConfirmParams:
        """Confirmation tuned to a camera's sample interval, with the file's overrides on top."""
        return ConfirmParams.for_interval(sample_interval_s, **self.confirm)

    def stationary_params(self) -> StationaryParams:
        return StationaryParams(**self.stationary)

    def view_params(self) -> ViewParams:
        return ViewParams(**{k: v if k in FRACTIONS else int(v) for k, v in self.view_check.items()})

    def text_params(self) -> TextParams:
        if "min_gap" in self.text:  # counted samples until 2026-12; a sample interval is per camera
            raise ValueError(
                f"text.min_gap ({self.text['min_gap']:g} samples) is now text.min_gap_s, in seconds of video: "
                f"min_gap x the cameras' sample_interval_s (the old default 5 at 2 s is min_gap_s: 10)"
            )
        kinds = {"ocr_min_side": int, "net_skip": bool}  # the YAML's numbers and booleans arrive as floats
        return TextParams(**{k: kinds.get(k, float)(v) for k, v in self.text.items()})


def _resolve(base: Path, p: Path | None) -> Path | None:
    return None if p is None else (p if p.is_absolute() else base / p)


def load_worker_config(path: str | Path) -> tuple[WorkerConfig, Taxonomy]:
    """Read, validate and cross-check a worker config; relative paths become relative to the file."""
    path = Path(path)
    cfg = validate(WorkerConfig, read_yaml(path), str(path))
    return resolve_config(cfg, path.parent, str(path))


def _resolve_camera(base: Path, cam: CameraConfig) -> CameraConfig:
    """A camera with its file source and reference picture relative to `base`."""
    update: dict[str, Any] = {}
    if cam.is_file:
        update["source"] = str(_resolve(base, Path(cam.source)))
    ref = cam.zones.reference_image
    if ref and "://" not in ref:
        update["zones"] = cam.zones.model_copy(update={"reference_image": str(_resolve(base, Path(ref)))})
    return cam.model_copy(update=update)


def resolve_config(cfg: WorkerConfig, base: Path, source: str) -> tuple[WorkerConfig, Taxonomy]:
    cfg = cfg.model_copy(
        update={
            "data_dir": _resolve(base, cfg.data_dir),
            "evidence_dir": _resolve(base, cfg.evidence_dir),
            "taxonomy": _resolve(base, cfg.taxonomy),
            "regions": _resolve(base, cfg.regions),
            "cameras": [_resolve_camera(base, c) for c in cfg.cameras],
        }
    )
    try:
        cfg.confirm_params(1.0)
        cfg.stationary_params()
        cfg.text_params()
        cfg.view_params()
        cfg.recheck.params()
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{source}: confirm/stationary/text/view_check/recheck: {e}") from None
    taxonomy = load_taxonomy(cfg.taxonomy)
    for cam in cfg.cameras:
        try:
            check_zone_set(cam.id, cam.zones, taxonomy)
        except ConfigError as e:
            raise ConfigError(f"{source}: {e}") from None
    if not ocr_available():
        needs = [
            f"camera {cam.id}, zone {z.id}, {name} (labels {r.labels})"
            for cam in cfg.cameras
            for z in cam.zones.zones
            for name, r in z.named_rules
            if r.is_text_rule
        ]
        if needs:
            needed = "; ".join(needs)
            raise ConfigError(f"{source}: text rules need OCR, not installed (pip install 'xuncha[ocr]'): {needed}")
    for warning in config_warnings(cfg, taxonomy):
        log.warning("%s: %s", source, warning)
    return cfg, taxonomy


def config_warnings(cfg: WorkerConfig, taxonomy: Taxonomy) -> list[str]:
    """What is valid but probably not meant: a camera without zones, a dwell of 0 where the category waits, a
    start time on a still folder."""
    out = []
    for cam in cfg.cameras:
        if cam.start_time is not None and cam.is_file and Path(cam.source).is_dir():
            out.append(
                f"camera {cam.id}: start_time is ignored: {cam.source} is a still folder "
                "(its pictures carry their times)"
            )
        if not cam.zones.zones:
            out.append(f"camera {cam.id}: zones is empty: the camera is only checked for health, it finds nothing")
        for z in cam.zones.zones:
            for name, r in z.named_rules:
                default = taxonomy.get(r.category).dwell_s
                if r.dwell_s == 0 and default > 0:
                    out.append(
                        f"camera {cam.id}, zone {z.id}, {name}.dwell_s: 0 makes every single sighting a clue "
                        f"(category {r.category} waits {default:g} s by default; 0 is meant for passing "
                        "violations such as 0302)"
                    )
    return out
