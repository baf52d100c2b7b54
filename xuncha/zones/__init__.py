"""Zones: per-camera zone sets and rules, matching detections to zones, region (镇街) lookup."""

from xuncha.zones.match import ZoneMatcher, zone_polygon_px
from xuncha.zones.model import Rule, Zone, ZoneSet, check_zone_set
from xuncha.zones.regions import Place, Region, RegionIndex, resolve_place, resolve_region

__all__ = [
    "Region",
    "Place",
    "RegionIndex",
    "Rule",
    "Zone",
    "ZoneMatcher",
    "ZoneSet",
    "check_zone_set",
    "resolve_place",
    "resolve_region",
    "zone_polygon_px",
]
