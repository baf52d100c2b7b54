"""The review service's configuration file: database, broker, evidence, web server, reasons, dispatch."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from xuncha.clues.dispatch import Escalation
from xuncha.review.gating import GatingSettings
from xuncha.taxonomy import Taxonomy, load_taxonomy
from xuncha.yamlfile import ConfigError, TimeZoneName, read_yaml, validate

FIXTURE_REASON = "fixture"


class RejectReason(BaseModel):
    """One reject reason; the UI numbers them 1..n in file order (keyboard shortcuts)."""

    model_config = ConfigDict(extra="forbid")
    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="Stable code stored with the decision")
    name: str = Field(min_length=1, description="Chinese label shown to operators")
    needs_text: bool = Field(False, description="The operator must type an explanation (其他)")


DEFAULT_REASONS = [
    RejectReason(code="misdetection", name="误报-目标识别错误"),
    RejectReason(code="compliant", name="非违规-合规经营"),
    RejectReason(code=FIXTURE_REASON, name="固定设施"),
    RejectReason(code="duplicate", name="重复"),
    RejectReason(code="gone", name="已整改/已消失"),
    RejectReason(code="outside_zone", name="区域外"),
    RejectReason(code="other", name="其他", needs_text=True),
]


class DispatchSettings(BaseModel):
    """What a case suggests to the dispatch service."""

    model_config = ConfigDict(extra="forbid")
    district_code: str = Field("", description="区 code put on every case (6-digit district code)")
    district_name: str = Field("", description="区 name put on every case")
    default_department: str = Field("", description="Suggested handling department when a category has none")
    departments: dict[str, str] = Field(default_factory=dict, description="Category code -> suggested department")
    deadline_h: float = Field(24, gt=0, description="Suggested deadline, hours after filing")
    deadlines_h: dict[str, float] = Field(
        default_factory=dict, description="Category code -> deadline in hours, overriding deadline_h"
    )
    recurrence_days: int = Field(30, ge=1, description="Window for counting earlier cases at the same spot")
    escalation_days: int = Field(7, ge=1, description="Window of the escalation rule (cases at one place)")
    escalation: dict[Escalation, int] = Field(
        default_factory=lambda: {"交办": 3, "督办": 5, "重点督办": 8},
        description="Level -> cases of one category at one place (camera + zone) in escalation_days, "
        "this one included, from which a case carries that level",
    )
    exchange: str = Field(
        "xuncha.cases", description="Durable topic exchange of cases, re-check requests and re-check results"
    )
    queue: str = Field("xuncha.cases.dispatch", description="Durable queue the dispatch service consumes")

    @field_validator("escalation")
    @classmethod
    def _rising(cls, v: dict[str, int]) -> dict[str, int]:
        order = [v[k] for k in ("交办", "督办", "重点督办") if k in v]
        if any(n < 1 for n in order) or order != sorted(set(order)):
            raise ValueError(f"escalation thresholds must be >= 1 and rise from 交办 to 重点督办, got {v}")
        return v

    def escalation_level(self, cases_at_place: int) -> str | None:
        """The highest level whose threshold `cases_at_place` reached (None below 交办)."""
        reached = [(n, level) for level, n in self.escalation.items() if cases_at_place >= n]
        return max(reached)[1] if reached else None

    def deadline_for(self, category_code: str) -> float:
        return self.deadlines_h.get(category_code, self.deadline_h)


class ReviewConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    data_dir: Path = Field(
        Path("var"), description="Folder of the embedded broker, the SQLite database and evidence (as the worker's)"
    )
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; empty = sqlite in data_dir/review.sqlite; postgresql+psycopg://... at scale"
    )
    broker_url: str | None = Field(
        None, description="kombu URL; empty = the worker's embedded broker data_dir/broker.sqlite"
    )
    evidence_dir: Path | None = Field(None, description="The worker's evidence store; empty = data_dir/evidence")
    taxonomy: Path | None = Field(None, description="Category file; empty = the embedded configs/taxonomy.yaml")
    host: str = Field("127.0.0.1", description="Address the web server listens on")
    port: int = Field(8600, ge=1, le=65535, description="Port the web server listens on")
    public_url: str = Field(
        "http://127.0.0.1:8600", description="Base URL of this service as dispatch sees it (evidence links in cases)"
    )
    cookie_secure: bool = Field(True, description="Send the session cookie over HTTPS only (localhost is exempt)")
    session_hours: float = Field(12, gt=0, description="A login lasts this long")
    login_failures_per_account: int = Field(
        5, ge=1, description="Failed logins for one user name within login_window_s before its logins wait"
    )
    login_failures_per_address: int = Field(
        30, ge=1, description="Failed logins from one client address within login_window_s before its logins wait"
    )
    login_window_s: float = Field(900, gt=0, description="Window (seconds) in which failed logins are counted")
    timezone: TimeZoneName = Field("Asia/Shanghai", description="Local time zone for days in stats")
    undo_window_s: float = Field(
        30, ge=0, description="An operator may undo a decision this long; cases are sent only after it"
    )
    reject_reasons: list[RejectReason] = Field(default_factory=lambda: list(DEFAULT_REASONS), min_length=1)
    dispatch: DispatchSettings = Field(default_factory=DispatchSettings)
    gating: GatingSettings = Field(
        default_factory=GatingSettings, description="Adaptive gating: zones' thresholds follow their 立案率"
    )

    @field_validator("public_url")
    @classmethod
    def _strip(cls, v: str) -> str:
        return v.rstrip("/")

    @model_validator(mode="after")
    def _unique_reasons(self) -> ReviewConfig:
        codes = [r.code for r in self.reject_reasons]
        dup = {c for c in codes if codes.count(c) > 1}
        if dup:
            raise ValueError(f"reject_reasons: duplicate code(s) {sorted(dup)}")
        return self

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{Path(self.data_dir).resolve() / 'review.sqlite'}"

    @property
    def kombu_url(self) -> str:
        return self.broker_url or f"sqla+sqlite:///{Path(self.data_dir).resolve() / 'broker.sqlite'}"

    @property
    def evidence_root(self) -> Path:
        return self.evidence_dir or Path(self.data_dir) / "evidence"

    def reason(self, code: str) -> RejectReason:
        for r in self.reject_reasons:
            if r.code == code:
                return r
        raise KeyError(code)


def _resolve(base: Path, p: Path | None) -> Path | None:
    return None if p is None or p.is_absolute() else base / p


def load_review_config(path: str | Path) -> tuple[ReviewConfig, Taxonomy]:
    """Read and validate a review config; relative paths are relative to the file."""
    path = Path(path)
    cfg = validate(ReviewConfig, read_yaml(path), str(path))
    base = path.parent
    cfg = cfg.model_copy(
        update={
            "data_dir": _resolve(base, cfg.data_dir) or cfg.data_dir,
            "evidence_dir": _resolve(base, cfg.evidence_dir) or cfg.evidence_dir,
            "taxonomy": _resolve(base, cfg.taxonomy) or cfg.taxonomy,
        }
    )
    taxonomy = load_taxonomy(cfg.taxonomy)
    codes = {c.code for c in taxonomy.categories}
    for key in ("departments", "deadlines_h"):
        unknown = sorted(set(getattr(cfg.dispatch, key)) - codes)
        if unknown:
            raise ConfigError(f"{path}: dispatch.{key}: unknown category code(s) {unknown}")
    bad = {k: v for k, v in cfg.dispatch.deadlines_h.items() if v <= 0}
    if bad:
        raise ConfigError(f"{path}: dispatch.deadlines_h: deadlines must be > 0 hours, got {bad}")
    return cfg, taxonomy
