"""A seeded month of review history (clues, decisions, cases, handling reports, re-checks) for report tests
and benchmarks, written with bulk inserts. Returns the plain records so callers can count independently.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert
from sqlalchemy.orm import sessionmaker

from xuncha.db.cases import Case, CaseReport, Recheck
from xuncha.db.clues import ACCEPTED, REJECTED, Clue, Decision
from xuncha.db.users import User

CATEGORIES = {"0102": "暴露垃圾", "0507": "乱堆物堆料", "0508": "占道经营", "0504": "店外经营", "0201": "非法小广告"}
REGIONS = [(f"4401050{i:02d}", f"第{i}街道") for i in range(1, 25)]
BATCH = 5000


@dataclass(frozen=True)
class SeededCase:
    clue_id: str
    camera_id: str
    zone_id: str
    region_code: str | None
    category: str
    decided_at: datetime
    accepted: bool
    deadline: datetime | None = None
    closed_at: datetime | None = None
    verdict: str | None = None
    result_at: datetime | None = None
    overruled: bool = False


def generate(
    n_clues: int, start: datetime, days: int = 30, accept_rate: float = 0.3, seed: int = 7
) -> list[SeededCase]:
    """Deterministic records: 60 cameras (2 without a 镇街), 2 zones each, 5 categories; accepted clues are
    cases, 80 % of them handled and re-checked, closed when rectified or overruled."""
    rng = random.Random(seed)
    cams = [(f"cam-{c:02d}", None if c < 2 else REGIONS[c % len(REGIONS)][0]) for c in range(60)]
    weights = [1 + (c % 7) ** 2 for c in range(len(cams))]  # some places are hotspots
    out = []
    for i in range(n_clues):
        cam, region = rng.choices(cams, weights)[0]
        decided = start + timedelta(seconds=rng.uniform(0, days * 86400))
        accepted = rng.random() < accept_rate
        rec = SeededCase(
            f"s{i:07d}", cam, f"z{rng.randrange(2)}", region, rng.choice(list(CATEGORIES)), decided, accepted
        )
        if accepted:
            deadline = decided + timedelta(hours=24)
            verdict = result_at = closed = None
            overruled = False
            if rng.random() < 0.8:
                result_at = decided + timedelta(hours=rng.uniform(1, 40))
                verdict = rng.choices(["rectified", "not_rectified", "unverifiable"], [6, 2.5, 1.5])[0]
                overruled = verdict == "not_rectified" and rng.random() < 0.2
                if verdict == "rectified":
                    closed = result_at
                elif overruled:
                    closed = result_at + timedelta(hours=1)
            rec = SeededCase(
                **{
                    **rec.__dict__,
                    "deadline": deadline,
                    "closed_at": closed,
                    "verdict": verdict,
                    "result_at": result_at,
                    "overruled": overruled,
                }
            )
        out.append(rec)
    return out


def seed(sessions: sessionmaker, records: list[SeededCase]) -> None:
    """Insert `records` (and one operator) in batches."""
    with sessions.begin() as s:
        user = User(username="seed-operator", password_hash="-", role="operator")
        s.add(user)
        s.flush()
        uid = user.id
    regions = dict(REGIONS)
    for lo in range(0, len(records), BATCH):
        chunk = records[lo : lo + BATCH]
        with sessions.begin() as s:
            s.execute(insert(Clue), [_clue(r, regions) for r in chunk])
            s.execute(
                insert(Decision),
                [
                    {
                        "id": lo + i + 1,
                        "clue_id": r.clue_id,
                        "accepted": r.accepted,
                        "category_code": r.category,
                        "user_id": uid,
                        "decided_at": r.decided_at,
                        "reason_code": None if r.accepted else "misdetection",
                    }
                    for i, r in enumerate(chunk)
                ],
            )
            cases = [(lo + i + 1, r) for i, r in enumerate(chunk) if r.accepted]
            if cases:
                s.execute(
                    insert(Case),
                    [
                        {
                            "id": f"case-{r.clue_id}",
                            "clue_id": r.clue_id,
                            "decision_id": d,
                            "payload": {},
                            "filed_at": r.decided_at,
                            "deadline": r.deadline,
                            "closed_at": r.closed_at,
                        }
                        for d, r in cases
                    ],
                )
            checked = [(d, r) for d, r in cases if r.verdict]
            if checked:
                s.execute(
                    insert(CaseReport),
                    [
                        {
                            "id": d,
                            "case_id": f"case-{r.clue_id}",
                            "seq": 1,
                            "reported_at": r.result_at,
                            "handled": True,
                            "unit": "城管中队",
                            "flags": [],
                        }
                        for d, r in checked
                    ],
                )
                s.execute(
                    insert(Recheck),
                    [
                        {
                            "id": f"case-{r.clue_id}:r1",
                            "case_id": f"case-{r.clue_id}",
                            "report_id": d,
                            "requested_at": r.result_at,
                            "verdict": r.verdict,
                            "result_at": r.result_at,
                            "samples": 3,
                            "present": 3 if r.verdict == "not_rectified" else 0,
                            "overruled_at": r.closed_at if r.overruled else None,
                        }
                        for d, r in checked
                    ],
                )


def _clue(r: SeededCase, regions: dict[str, str]) -> dict:
    return {
        "id": r.clue_id,
        "status": ACCEPTED if r.accepted else REJECTED,
        "gone": False,
        "last_seq": 0,
        "camera_id": r.camera_id,
        "camera_name": f"{r.camera_id} 路口",
        "zone_id": r.zone_id,
        "zone_name": f"区域{r.zone_id}",
        "category_code": r.category,
        "category_name": CATEGORIES[r.category],
        "region_code": r.region_code,
        "region_name": regions.get(r.region_code) if r.region_code else None,
        "model_name": "yolox_nano_coco",
        "label": "static_object",
        "score": 0.8,
        "box": [10.0, 10.0, 50.0, 50.0],
        "frame_w": 720,
        "frame_h": 480,
        "first_seen": r.decided_at - timedelta(minutes=20),
        "last_seen": r.decided_at - timedelta(minutes=5),
        "dwell_s": 900.0,
        "occurrences": 10,
        "evidence": {"scene": {"path": f"seed/{r.clue_id}/scene.jpg", "taken_at": r.decided_at.isoformat()}},
        "received_at": r.decided_at,
        "updated_at": r.decided_at,
    }
