"""Sub-district (镇街) lookup: which region's polygon contains a camera's location ("事件先属地").

Region polygons come from a GeoJSON FeatureCollection. Coordinates are [lon, lat] in whatever datum
the file uses (WGS84 per the GeoJSON spec; many Chinese sources use GCJ-02): camera locations must use
the same one.

A file may nest levels: a feature's `level` property is `town` (镇街, the default), `community` (社区)
or `grid` (网格); `locate` returns the containing area of each level.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import shapely
from pydantic import BaseModel, ConfigDict, Field
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry

from xuncha.yamlfile import ConfigError

LonLat = tuple[float, float]


class Region(BaseModel):
    """A sub-district (镇街) as cases name it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(description="Region code (镇街代码), e.g. 440106001; quote it in YAML")
    name: str = Field(description="Region name (镇街名称), e.g. 某某街道")


LEVELS = ("town", "community", "grid")  # 镇街, 社区, 网格


@dataclass(frozen=True)
class Place:
    """The areas of every level that contain a point (None where the file has no such level there)."""

    town: Region | None = None
    community: Region | None = None
    grid: Region | None = None


class RegionIndex:
    """Point-in-polygon lookup over region polygons (STRtree)."""

    def __init__(self, items: Sequence[tuple[Region, BaseGeometry]], levels: Sequence[str] | None = None) -> None:
        self._regions = [r for r, _ in items]
        self._geoms = [g for _, g in items]
        self._levels = list(levels) if levels is not None else ["town"] * len(items)
        self._tree = shapely.STRtree(self._geoms)

    def __len__(self) -> int:
        return len(self._regions)

    @classmethod
    def from_geojson(cls, path: str | Path, code_key: str = "code", name_key: str = "name") -> RegionIndex:
        """Read a FeatureCollection of (Multi)Polygon features; `code_key`/`name_key` name the properties."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: file not found") from None
        except OSError as e:
            raise ConfigError(f"{path}: cannot read: {e.strerror}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"{path}: not valid JSON: {e}") from None
        if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
            raise ConfigError(f"{path}: expected a GeoJSON FeatureCollection")
        features = data.get("features")
        if not isinstance(features, list) or not features:
            raise ConfigError(f"{path}: the FeatureCollection has no features")
        parsed = [_feature(path, i, f, code_key, name_key) for i, f in enumerate(features)]
        return cls([(r, g) for r, g, _ in parsed], [lv for _, _, lv in parsed])

    def locate(self, lon: float, lat: float) -> Place:
        """The 镇街, 社区 and 网格 containing (lon, lat), boundary included; on overlaps, the first in the file."""
        hits = sorted(int(i) for i in self._tree.query(shapely.Point(lon, lat), predicate="intersects"))
        found: dict[str, Region] = {}
        for i in hits:
            found.setdefault(self._levels[i], self._regions[i])
        return Place(**found)

    def lookup(self, lon: float, lat: float) -> Region | None:
        """The 镇街 containing (lon, lat)."""
        return self.locate(lon, lat).town


def _feature(path: Path, i: int, f: object, code_key: str, name_key: str) -> tuple[Region, BaseGeometry, str]:
    where = f"{path}: features[{i}]"
    if not isinstance(f, dict) or f.get("type") != "Feature":
        raise ConfigError(f"{where}: not a GeoJSON Feature")
    props = f.get("properties") or {}
    missing = [k for k in (code_key, name_key) if props.get(k) in (None, "")]
    if missing:
        raise ConfigError(f"{where}: missing properties {missing} (have {sorted(props)})")
    level = props.get("level", "town")
    if level not in LEVELS:
        raise ConfigError(f"{where} ({props[code_key]}): level must be one of {list(LEVELS)}, got {level!r}")
    geom_data = f.get("geometry")
    gtype = geom_data.get("type") if isinstance(geom_data, dict) else None
    if gtype not in ("Polygon", "MultiPolygon"):
        raise ConfigError(f"{where} ({props[code_key]}): geometry must be a (Multi)Polygon, got {gtype}")
    try:
        geom = shape(geom_data)
    except (ValueError, TypeError, AttributeError, IndexError) as e:
        raise ConfigError(f"{where} ({props[code_key]}): bad coordinates: {e}") from None
    if not geom.is_valid:
        # Official boundary files often have tiny self-touches; repair and keep the polygonal part.
        geom = shapely.make_valid(geom)
        polys = [g for g in getattr(geom, "geoms", [geom]) if isinstance(g, Polygon | MultiPolygon)]
        geom = shapely.union_all(polys) if polys else Polygon()
    if geom.is_empty or geom.area <= 0:
        raise ConfigError(f"{where} ({props[code_key]}): polygon is empty")
    return Region(code=str(props[code_key]), name=str(props[name_key])), geom, level


def resolve_region(own: Region | None, location: LonLat | None, index: RegionIndex | None) -> Region | None:
    """A camera's own region setting wins; else the region whose polygon contains its location."""
    return resolve_place(own, location, index).town


def resolve_place(own: Region | None, location: LonLat | None, index: RegionIndex | None) -> Place:
    """镇街, 社区 and 网格 of a camera. Its own 镇街 setting wins; the lookup's 社区 and 网格 are kept only
    when the lookup agrees on the 镇街 (otherwise they would belong to another 镇街)."""
    found = index.locate(*location) if location is not None and index is not None else Place()
    if own is None or own == found.town:
        return found
    return Place(town=own)
