"""Poster scenarios: small ads and banners put up on real footage, with hard negatives and exact truth.

A suite file with a `posters:` section (bench/scenarios/text/posters.yaml) lists, per scenario, the items
shown on one of the suite's clips: posters and banners (rendered in a CJK font, warped in perspective
onto a wall, a bin or the utility box, with paper colour, blur and a passer-by in front of them) and
hard negatives (a walker in a printed T-shirt, a person standing with a newspaper). The clip's own
walkers are pasted back over the posters where they pass in front (foreground against the clip's bare
background: the median of its `background_s` windows, or of its whole segment).
A scenario's `light` scales the whole picture (wall and posters alike) by a gain over time: a slow ramp
(clouds, dusk) or a sudden step (lights switched, the camera's exposure jumping).

Truth: a poster or banner staying at least the zone's dwell plus 15 s is a violation (0201 / 0202),
one gone at least 5 s before the dwell is a distractor; T-shirts and newspapers are distractors too.
Each violation records the phone number printed on it and its character height, so the report can
give the share of found posters whose number was read exactly, by text size.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from xuncha.bench.evaluate import Match
from xuncha.bench.posters import paste, poster_quad, render_poster
from xuncha.textpatterns import phone_numbers
from xuncha.train.composite import BackgroundClip
from xuncha.train.suite import START

CATEGORY = {"poster": "0201", "banner": "0202"}
CLIP_FPS = 5.0  # background clips are resampled to this before frames are picked


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClipSpec(_Spec):
    file: str = Field(description="Footage file in the shared data's footage/")
    segment: tuple[float, float] | None = Field(None, description="Seconds of the clip to loop back and forth")
    zone: list[tuple[float, float]] = Field(description="The text zone (0-1 polygon): walls, boxes, bins")
    background_s: list[tuple[float, float]] | None = Field(
        None,
        description="Windows [from s, to s) of the clip (seconds of the file, as `segment`) where the text zone is"
        " bare; their per-pixel median is the background walkers are told from. Default: the whole segment's",
    )

    @model_validator(mode="after")
    def _windows(self) -> ClipSpec:
        for t0, t1 in self.background_s or []:
            if not t0 < t1:
                raise ValueError(f"background_s window [{t0}, {t1}] is empty")
        return self


class Item(_Spec):
    kind: Literal["poster", "banner", "tshirt", "newspaper"]
    lines: list[str] = Field(min_length=1)
    char_px: float = Field(gt=0, description="Character height in frame pixels")
    at: tuple[float, float] = Field(description="Top-left corner in frame pixels (start point for a walker)")
    to: tuple[float, float] | None = Field(None, description="tshirt: where the walker ends")
    skew: float = 0.0
    tilt: float = 0.0
    blur: float = 0.0
    paper: tuple[int, int, int] = (235, 235, 228)  # BGR
    ink: tuple[int, int, int] = (25, 25, 25)
    start_s: float = 0.0
    end_s: float | None = None
    cover: tuple[float, float, float] | None = Field(
        None, description="A passer-by standing in front: (from s, to s, covered fraction of the width)"
    )


class PosterScenario(_Spec):
    id: str
    clip: str
    items: list[Item] = Field(default_factory=list)
    light: list[tuple[float, float]] = Field(
        default_factory=list,
        description="(s, gain) points, linear between them and constant outside; a step is two points close together",
    )

    def gain(self, t: float) -> float:
        if not self.light:
            return 1.0
        ts, gains = zip(*sorted(self.light), strict=True)
        return float(np.interp(t, ts, gains))


class PosterSuite(_Spec):
    posters: Literal[True] = Field(description="Marks a poster suite")
    clips: dict[str, ClipSpec]
    duration_s: float = 120.0
    sample_interval_s: float = 2.0
    dwell_s: float = 60.0
    scenes: list[str] = ["small_ads", "banner"]
    scenarios: list[PosterScenario]


def is_poster_suite(path: Path) -> bool:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    return isinstance(doc, dict) and bool(doc.get("posters"))


def load_poster_suite(path: Path) -> PosterSuite:
    return PosterSuite.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def _figure(lines: list[str], char_px: float, paper: tuple[int, int, int], print_scale: float) -> np.ndarray:
    """A person seen from the front at CCTV scale: dark legs and head, a shirt (or paper) with print."""
    sign = render_poster(lines, char_px, paper=paper)
    h = int(sign.shape[0] / print_scale)
    w = max(sign.shape[1] + 6, int(h * 0.45))
    body = np.full((h, w, 3), (60, 55, 50), np.uint8)
    y0, x0 = int(h * 0.22), (w - sign.shape[1]) // 2
    body[y0 : y0 + sign.shape[0], x0 : x0 + sign.shape[1]] = sign
    return body


def _item_box(item: Item, image: np.ndarray) -> list[tuple[float, float]]:
    return poster_quad(item.at[0], item.at[1], image.shape[1::-1], item.skew, item.tilt)


def background_grey(clip: BackgroundClip, spec: ClipSpec) -> np.ndarray:
    """The grey picture of the bare scene that the clip's walkers are told from (absdiff > 30).

    The whole segment's median is wrong where people stand for most of it (the indoor clip: the median
    shows a woman by the table, so wherever she is absent the bare wall counts as "in front" and was pasted
    over the posters); `background_s` picks windows where the zone is bare, and a person standing in front
    of a poster still differs from that picture and still covers it.
    """
    if not spec.background_s:
        return clip.median_grey
    start = spec.segment[0] if spec.segment else 0.0
    picked = [
        cv2.cvtColor(f, cv2.COLOR_BGR2GRAY)
        for i, f in enumerate(clip.frames)
        if any(t0 <= start + i / CLIP_FPS < t1 for t0, t1 in spec.background_s)
    ]
    if not picked:
        raise ValueError(f"{spec.file}: no frame of the clip lies in background_s {spec.background_s}")
    return np.median(np.stack(picked), axis=0).astype(np.uint8)


def compose_poster_scenario(suite: PosterSuite, sc: PosterScenario, footage: Path, out_dir: Path) -> dict:
    """Write `<id>.mp4` (one frame per sample), `<id>.truth.json` and `<id>.yaml`; return the truth."""
    spec = suite.clips[sc.clip]
    clip = BackgroundClip(footage / spec.file, CLIP_FPS, spec.segment)
    bare_grey = background_grey(clip, spec)
    pictures = [
        _figure(it.lines, it.char_px, it.paper, 0.35 if it.kind == "tshirt" else 0.5)
        if it.kind in ("tshirt", "newspaper")
        else render_poster(it.lines, it.char_px, it.paper, it.ink)
        for it in sc.items
    ]
    out_dir.mkdir(parents=True, exist_ok=True)
    video = out_dir / f"{sc.id}.mp4"
    fps = 1.0 / suite.sample_interval_s
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), fps, clip.size)
    boxes: dict[int, tuple[int, int, int, int]] = {}
    n = int(suite.duration_s / suite.sample_interval_s)
    for i in range(n):
        t = i * suite.sample_interval_s
        bg = clip.frame(int(t * CLIP_FPS))
        grey = cv2.cvtColor(bg, cv2.COLOR_BGR2GRAY)
        walkers = cv2.dilate((cv2.absdiff(grey, bare_grey) > 30).astype(np.uint8), np.ones((5, 5), np.uint8))
        frame = bg.copy()
        for k, (it, pic) in enumerate(zip(sc.items, pictures, strict=True)):
            if t < it.start_s or (it.end_s is not None and t >= it.end_s):
                continue
            if it.kind == "tshirt" and it.to is not None and it.end_s is not None:
                f = (t - it.start_s) / (it.end_s - it.start_s)
                x, y = (it.at[0] + f * (it.to[0] - it.at[0]), it.at[1] + f * (it.to[1] - it.at[1]))
                quad = poster_quad(x, y, pic.shape[1::-1])
            else:
                quad = _item_box(it, pic)
            frame, box = paste(frame, pic, quad, it.blur)
            boxes.setdefault(k, box)
            if it.kind in ("poster", "banner"):
                frame = np.where(walkers[..., None] > 0, bg, frame)  # the clip's walkers pass in front
            if it.cover is not None and it.cover[0] <= t < it.cover[1]:
                x1, y1, x2, y2 = box
                cx = int(x1 + it.cover[2] * (x2 - x1))
                top = max(0, y1 - (y2 - y1))
                frame[top : min(frame.shape[0], y2 + (y2 - y1)), max(0, x1 - 4) : cx] = (70, 62, 58)
        gain = sc.gain(t)
        if gain != 1.0:
            frame = np.clip(frame.astype(np.float32) * gain, 0, 255).astype(np.uint8)
        writer.write(frame)
    writer.release()
    truth = truth_doc(suite, sc, clip.size, boxes)
    (out_dir / f"{sc.id}.truth.json").write_text(json.dumps(truth, ensure_ascii=False, indent=1), encoding="utf-8")
    (out_dir / f"{sc.id}.yaml").write_text(
        yaml.safe_dump(worker_doc(suite, sc, video.name), allow_unicode=True), encoding="utf-8"
    )
    return truth


def truth_doc(suite: PosterSuite, sc: PosterScenario, size: tuple[int, int], boxes: dict[int, tuple]) -> dict:
    violations, distractors = [], []
    for k, it in enumerate(sc.items):
        if k not in boxes:
            continue
        stay = (it.end_s if it.end_s is not None else suite.duration_s) - it.start_s
        phones = phone_numbers(" ".join(it.lines))
        entry = {
            "object": k,
            "kind": it.kind,
            "category": CATEGORY.get(it.kind),
            "box": [float(c) for c in boxes[k]],
            "start_s": it.start_s,
            "end_s": it.end_s,
            "phone": phones[0] if phones else None,
            "char_px": it.char_px,
        }
        if it.kind in CATEGORY and stay >= suite.dwell_s + 15:
            violations.append(entry)
        elif it.kind in CATEGORY and stay > suite.dwell_s - 5:
            raise ValueError(f"{sc.id}: item {k} stays {stay:.0f} s, too close to the dwell to score")
        else:
            distractors.append(entry)
    return {
        "scenario": sc.id,
        "kind": scenario_kind(sc),
        "video": f"{sc.id}.mp4",
        "frame_size": list(size),
        "start_time": START.isoformat(),
        "violations": violations,
        "distractors": distractors,
    }


def scenario_kind(sc: PosterScenario) -> str:
    return ("lighting_" if sc.light else "") + _kind(sc)


def _kind(sc: PosterScenario) -> str:
    kinds = {it.kind for it in sc.items}
    if "banner" in kinds:
        return "banner"
    if any(it.end_s is not None for it in sc.items if it.kind == "poster"):
        return "torn_down"
    if kinds & {"tshirt", "newspaper"}:
        return "person_with_print"
    if "poster" in kinds:
        return "poster_covered" if any(it.cover for it in sc.items) else "poster"
    return "signs_only"


def worker_doc(suite: PosterSuite, sc: PosterScenario, video_name: str) -> dict:
    zone = {"id": "text", "name": "墙面与箱体", "polygon": [list(p) for p in suite.clips[sc.clip].zone]}
    return {
        "data_dir": f"var/{sc.id}",
        "detectors": {"models": [], "stationary": False},
        "cameras": [
            {
                "id": sc.id,
                "name": sc.id,
                "source": video_name,
                "sample_interval_s": suite.sample_interval_s,
                "start_time": START.isoformat(),
                "zones": [zone | {"scene": suite.scenes, "dwell_s": suite.dwell_s}],
            }
        ],
    }


def phone_reads(match: Match, truth: dict) -> list[tuple[float, bool]]:
    """For each found violation with a phone number: (its character height, number read exactly)."""
    by_id = {f"o{v['object']}": v for v in truth["violations"]}
    out = []
    for mc in match.clues:
        v = by_id.get(mc.violation or "")
        if mc.outcome == "tp" and v is not None and v.get("phone"):
            out.append((v["char_px"], v["phone"] in phone_numbers(mc.clue.text)))
    return out
