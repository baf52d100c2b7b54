"""What the zone editor needs from the zone models: Chinese error messages, the form schema, version diffs.

Pure: the server validates an edited zone set with the worker's own models (ZoneSet, Zone, Rule,
Mask) and turns pydantic's errors into Chinese lines that name the zone and the field.

>>> try:
...     validate_zone_set({"zones": [{"id": "a", "name": "门口", "polygon": [[0, 0], [1, 1]],
...                                    "rules": [{"category": "0507", "labels": ["x"]}]}]})
... except ZoneSetInvalid as e:
...     print(e.problems[0])
区域「门口」的「多边形」：至少需要 3 个点，现有 2 个
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ValidationError

from xuncha.taxonomy import Taxonomy
from xuncha.zones.model import Mask, Rule, Zone, ZoneError, ZoneSet

# Chinese for the zone models' own ValueError messages (English, shared with the YAML loader).
_MESSAGES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"needs at least 3 points, got (\d+)"), "至少需要 3 个点，现有 {0} 个"),
    (re.compile(r"has (\d+) points, at most (\d+)"), "有 {0} 个点，最多 {1} 个（请简化多边形）"),
    (
        re.compile(r"unknown URL scheme '([^']*)'"),
        "未知的地址协议 {0}://（应为 rtsp://、rtsps://、rtmp://、http(s):// 或文件路径）",
    ),
    (re.compile(r"outside 0-1"), "有点超出画面（坐标须在 0-1 之间）"),
    (re.compile(r"degenerate"), "面积几乎为零（各点几乎在一条直线上）"),
    (re.compile(r"self-intersecting"), "边线交叉或相接：多边形不能自相交"),
    (re.compile(r"min_area ([\d.e-]+) is larger than max_area ([\d.e-]+)"), "最小目标面积 {0} 大于最大目标面积 {1}"),
    (re.compile(r"rules for category '(\w+)' give different dwell_s"), "类别 {0} 的几条规则持续时间不同，应一致"),
    (re.compile(r"active hours '(.*)' must look like"), "时段 {0} 的格式应为 HH:MM-HH:MM（如 08:00-20:00）"),
    (re.compile(r"active hours '(.*)': end is after 24:00"), "时段 {0} 的结束时间晚于 24:00"),
    (re.compile(r"must be a quoted code"), '类别代码须为文本（如 "0507"）'),
    (re.compile(r"needs a scene or at least one rule"), "至少需要选一个场景或写一条规则"),
    (re.compile(r"unknown scene '(\w+)'"), "未知场景 {0}"),
    (re.compile(r"lists a scene twice"), "同一场景选了两次"),
    (re.compile(r"duplicate zone id '(.*)' \((\w+)\[(\d+)\] and (\w+)\[(\d+)\]\)"), "编号 {0} 重复"),
]
_TYPES = {
    "missing": "必须填写",
    "greater_than_equal": "不能小于 {ge}",
    "less_than_equal": "不能大于 {le}",
    "greater_than": "必须大于 {gt}",
    "less_than": "必须小于 {lt}",
    "too_short": "至少需要 {min_length} 项",
    "string_too_long": "最多 {max_length} 个字符",
    "string_pattern_mismatch": "只能用字母、数字、- 和 _，并以字母或数字开头",
    "float_parsing": "须为数字",
    "float_type": "须为数字",
    "int_parsing": "须为整数",
    "bool_parsing": "须为是或否",
    "literal_error": "须为 {expected} 之一",
    "extra_forbidden": "未知字段",
    "list_type": "须为列表",
    "tuple_type": "须为 [x, y] 坐标",
    "string_type": "须为文本",
}


class ZoneSetInvalid(ValueError):
    """An edited zone set the worker would refuse; `problems` are Chinese lines naming zone and field."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("；".join(problems))
        self.problems = problems


def message_zh(err: dict[str, Any]) -> str:
    if err["type"] == "value_error":
        msg = str(err["msg"]).removeprefix("Value error, ")
        for pattern, zh in _MESSAGES:
            m = pattern.search(msg)
            if m:
                return zh.format(*m.groups())
        return msg
    template = _TYPES.get(err["type"])
    if template is None:
        return str(err["msg"])
    return template.format(**{k: v for k, v in (err.get("ctx") or {}).items()})


def field_zh(model: type[BaseModel], loc: tuple[Any, ...]) -> str:
    """`('rules', 0, 'min_score')` -> 「规则」第 1 条的「最低置信度」."""
    parts: list[str] = []
    i = 0
    while i < len(loc):
        name = loc[i]
        info = model.model_fields.get(name) if isinstance(name, str) else None
        if info is None:
            parts.append(f"「{name}」")
            break
        label = f"「{info.title or name}」"
        if name == "rules" and i + 1 < len(loc) and isinstance(loc[i + 1], int):
            parts.append(f"第 {loc[i + 1] + 1} 条规则")
            model, i = Rule, i + 2
            continue
        if isinstance(loc[i + 1] if i + 1 < len(loc) else None, int):
            label += f"第 {loc[i + 1] + 1} 项"
            i += 1
        parts.append(label)
        i += 1
    return "的".join(parts)


def _item_name(kind: str, data: Any, index: int) -> str:
    items = data.get(kind) if isinstance(data, dict) else None
    item = items[index] if isinstance(items, list) and index < len(items) else None
    label = (item.get("name") or item.get("id")) if isinstance(item, dict) else None
    word = "区域" if kind == "zones" else "屏蔽区"
    return f"{word}「{label}」" if label else f"第 {index + 1} 个{word}"


def _problems(err: ValidationError, data: Any) -> list[str]:
    out: list[str] = []
    for e in err.errors():
        loc = e["loc"]
        inner = (e.get("ctx") or {}).get("error")
        if len(loc) >= 2 and loc[0] in ("zones", "masks") and isinstance(loc[1], int):
            who = _item_name(str(loc[0]), data, loc[1])
            model: type[BaseModel] = Zone if loc[0] == "zones" else Mask
            if isinstance(inner, ZoneError):
                for sub in inner.errors:
                    field = field_zh(model, tuple(sub["loc"]))
                    out.append(f"{who}的{field}：{message_zh(sub)}" if field else f"{who}：{message_zh(sub)}")
            else:
                field = field_zh(model, tuple(loc[2:]))
                out.append(f"{who}的{field}：{message_zh(e)}" if field else f"{who}：{message_zh(e)}")
        else:
            field = field_zh(ZoneSet, tuple(loc))
            out.append(f"{field}：{message_zh(e)}" if field else message_zh(e))
    return out


def validate_zone_set(data: Any, taxonomy: Taxonomy | None = None) -> ZoneSet:
    """The zone set the worker will load, or ZoneSetInvalid with every problem in Chinese."""
    try:
        zs = ZoneSet.model_validate(data)
    except ValidationError as e:
        raise ZoneSetInvalid(_problems(e, data)) from None
    if taxonomy is not None:
        unknown = [
            f"区域「{z.name or z.id}」的第 {i + 1} 条规则的「类别」：未知类别代码 {r.category}"
            f"（不在分类 {taxonomy.standard} 中）"
            for z in zs.zones
            for i, r in enumerate(z.rules)
            if r.category not in taxonomy
        ]
        if unknown:
            raise ZoneSetInvalid(unknown)
    return zs


def form_schema() -> dict[str, Any]:
    """JSON schemas of the editor's forms, straight from the models (titles, descriptions, limits)."""
    return {"zone": Zone.model_json_schema(), "rule": Rule.model_json_schema(), "mask": Mask.model_json_schema()}


def diff_zone_sets(old: ZoneSet | None, new: ZoneSet) -> list[str]:
    """What changed between two versions, one Chinese line per zone or mask added, removed or edited.

    >>> a = ZoneSet(zones=[Zone(id="z", name="门口", polygon=[(0, 0), (1, 0), (1, 1)],
    ...                         rules=[Rule(category="0507", labels=["x"])])])
    >>> b = a.model_copy(update={"zones": [a.zones[0].model_copy(update={"name": "大门"})]})
    >>> diff_zone_sets(a, b)
    ['修改区域「大门」：区域名称']
    """
    out: list[str] = []
    for kind, word in (("zones", "区域"), ("masks", "屏蔽区")):
        before = {z.id: z for z in getattr(old, kind)} if old else {}
        after = {z.id: z for z in getattr(new, kind)}
        for zid, z in after.items():
            if zid not in before:
                out.append(f"新增{word}「{z.name or zid}」")
                continue
            b = before[zid]
            changed = [
                info.title or name
                for name, info in type(z).model_fields.items()
                if getattr(b, name) != getattr(z, name)
            ]
            if changed:
                out.append(f"修改{word}「{z.name or zid}」：{'、'.join(changed)}")
        out += [f"删除{word}「{z.name or zid}」" for zid, z in before.items() if zid not in after]
    return out
