"""The OpenAPI description of what other services call: the dispatch and worker endpoints, with examples.

Served at /api/openapi.json (any logged-in user or API token). Routes are picked by the roles their
`require(...)` dependency admits, so a new dispatch or worker route is described without a list to
keep; its example is added to EXAMPLES (a test fails for a described route without one). Cases
themselves reach dispatch as messages (exchange `xuncha.cases`); their schema is `CaseMessage` here.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from xuncha.clues.dispatch import CaseMessage

SERVICES = ("dispatch", "worker")
DESCRIPTION = """\
巡查 review service: the endpoints the dispatch service (城管派遣系统) and the inspection workers call.

Authenticate with `Authorization: Bearer <token>`; tokens come from
`xuncha review --config FILE create-token NAME --role dispatch|worker` and are shown once.
Errors are JSON `{"detail": "<Chinese message>"}`; a 422 also lists `problems`, each naming the field.
Request bodies over 1 MB (with a picture: 21 MB) are refused with 413.

Filed cases are not polled: the service publishes each one as a `CaseMessage` (schema below) to the
durable topic exchange `xuncha.cases` (routing key `case.filed.<category code>`, message id = `case_id`;
deduplicate on it). Dispatch reports back with `POST /api/cases/{case_id}/handled`.
"""

CASE_EXAMPLE: dict[str, Any] = {
    "schema_version": 1,
    "case_id": "case-gate-3-0507-20240501T080000",
    "clue_id": "gate-3-0507-20240501T080000",
    "source": "xuncha",
    "category": {"code": "0507", "name": "乱堆物堆料", "liuluan": "乱堆放"},
    "reported_category": {"code": "0507", "name": "乱堆物堆料", "liuluan": "乱堆放"},
    "description": "江南中街江南西路口（配电箱旁）发现乱堆物堆料，持续约12分钟，视频识别24次。",
    "found_at": "2024-05-01T08:00:00+08:00",
    "last_seen": "2024-05-01T08:12:00+08:00",
    "filed_at": "2024-05-01T08:20:31+08:00",
    "camera": {"id": "gate-3", "name": "江南西路口", "preset": None, "location": None},
    "zone": {"id": "box", "name": "配电箱旁"},
    "location": {"lon": 113.27, "lat": 23.09},
    "district": {"code": "440105", "name": "海珠区"},
    "region": {"code": "440105001", "name": "江南中街"},
    "community": None,
    "grid": None,
    "dwell_s": 720.0,
    "occurrences": 24,
    "recurrence": 1,
    "recurrence_days": 30,
    "escalation": None,
    "evidence": {
        "scene": "https://review.example/evidence/2024-05-01/gate-3-0507-20240501T080000/scene.jpg",
        "crop": "https://review.example/evidence/2024-05-01/gate-3-0507-20240501T080000/crop.jpg",
        "start": "https://review.example/evidence/2024-05-01/gate-3-0507-20240501T080000/start.jpg",
    },
    "model": "static_object",
    "label": "static_object",
    "score": 0.62,
    "text": None,
    "phone_numbers": [],
    "reviewer": "op1",
    "suggested_department": "城管执法中队",
    "deadline": "2024-05-02T08:20:31+08:00",
}

_PIC = "/evidence/2024-05-01/gate-3-0507-20240501T080000/after-1.jpg"

# (method, path) -> request and response examples. Requests: "json" or "form" (multipart) bodies.
EXAMPLES: dict[tuple[str, str], dict[str, Any]] = {
    ("GET", "/api/cases/{case_id}"): {
        "response": {
            "case": CASE_EXAMPLE,
            "case_id": CASE_EXAMPLE["case_id"],
            "escalation": None,
            "deadline": "2024-05-02T08:20:31+08:00",
            "closed_at": None,
            "scene": "/evidence/2024-05-01/gate-3-0507-20240501T080000/scene.jpg",
            "handled": True,
            "handled_at": "2024-05-01T10:02:11+08:00",
            "handling_unit": "江南中街城管中队",
            "handling_note": "已清理",
            "after_picture": _PIC,
            "reports": [
                {
                    "seq": 1,
                    "reported_at": "2024-05-01T10:02:11+08:00",
                    "handled": True,
                    "unit": "江南中街城管中队",
                    "note": "已清理",
                    "picture": _PIC,
                    "picture_taken_at": "2024-05-01T09:58:00+08:00",
                    "flags": [],
                }
            ],
            "rechecks": [],
        }
    },
    ("POST", "/api/cases/{case_id}/handled"): {
        "form": {
            "unit": "江南中街城管中队",
            "handled": "true",
            "note": "已清理",
            "taken_at": "2024-05-01T09:58:00+08:00",
        },
        "response": {
            "case_id": CASE_EXAMPLE["case_id"],
            "report": 1,
            "handled": True,
            "after_picture": _PIC,
            "flags": [],
        },
    },
    ("GET", "/evidence/{rel}"): {"response": "(JPEG bytes)"},
    ("GET", "/metrics"): {"response": "# TYPE xuncha_review_pending_clues gauge\nxuncha_review_pending_clues 12.0\n"},
    ("POST", "/api/worker/cameras"): {
        "json": {"labels": ["person", "bicycle", "car", "static_object"]},
        "response": {
            "cameras": [
                {
                    "id": "gate-3",
                    "name": "江南西路口",
                    "source": "rtsp://viewer:secret@10.0.0.8:554/ch1",
                    "zones": {
                        "zones": [
                            {
                                "id": "box",
                                "name": "配电箱旁",
                                "polygon": [[0.1, 0.5], [0.4, 0.5], [0.4, 0.9], [0.1, 0.9]],
                                "rules": [{"category": "0507", "labels": ["static_object"]}],
                            }
                        ]
                    },
                }
            ],
            "reference_wanted": ["gate-3"],
        },
    },
    ("POST", "/api/worker/health"): {
        "json": {"cameras": {"gate-3": {"state": "ok", "last_sample": "2024-05-01T08:00:02+08:00"}}},
        "response": {"accept_view": []},
    },
    ("GET", "/api/worker/models"): {
        "response": {
            "models": {
                "garbage": {
                    "model_name": "garbage",
                    "action": "promote",
                    "ref": "/srv/xuncha/models/garbage-v5.onnx",
                    "checksum": "sha256:e2d123475d54f9b08b3fc18b1a8e256851c83260c0615613d272ec0600a185dd",
                    "previous_ref": "garbage",
                    "previous_checksum": "sha256:d6c3c474ca76505d941ebb92dbaba01f75e7a37c6ce1eaf695726bda1bdbc845",
                    "report_id": 3,
                    "by": "admin",
                    "at": "2024-05-01T03:00:00+00:00",
                }
            }
        }
    },
    ("GET", "/api/cameras/{camera_id}/fixtures"): {
        "response": {
            "camera_id": "gate-3",
            "fixtures": [{"zone": "box", "category": "0507", "box": [0.2, 0.6, 0.3, 0.8]}],
        }
    },
    ("GET", "/api/cameras/{camera_id}/gating"): {
        "response": {
            "camera_id": "gate-3",
            "enabled": True,
            "adjustments": [
                {
                    "zone": "box",
                    "category": "0507",
                    "level": 1,
                    "score_delta": 0.05,
                    "dwell_factor": 1.5,
                    "since": "2024-05-01T03:00:00+00:00",
                    "note": "自动提高门槛：分数 +0.05，停留 ×1.5（近50条立案率 0.22）",
                }
            ],
            "log": [],
        }
    },
    ("GET", "/api/cameras/{camera_id}/reference"): {
        "response": {
            "picture": "/api/cameras/gate-3/reference.jpg?preset=",
            "width": 1920,
            "height": 1080,
            "taken_at": "2024-05-01T03:00:00+00:00",
            "worker": "worker-1",
            "requested_at": None,
        }
    },
    ("GET", "/api/cameras/{camera_id}/reference.jpg"): {"response": "(JPEG bytes)"},
    ("POST", "/api/cameras/{camera_id}/reference"): {
        "form": {"preset": "", "picture": "(JPEG file)"},
        "response": {"path": "2024-05-01/gate-3/view.jpg", "taken_at": "2024-05-01T03:00:00+00:00"},
    },
}


def route_roles(route: APIRoute) -> set[str]:
    """The roles a route's `require(...)` dependency admits (empty for public routes)."""
    roles: set[str] = set()
    for dep in route.dependant.dependencies:
        roles.update(getattr(dep.call, "roles", ()))
    return roles


def described_routes(app: FastAPI) -> list[APIRoute]:
    return [r for r in app.routes if isinstance(r, APIRoute) and r.include_in_schema and route_roles(r) & set(SERVICES)]


def openapi(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI 3 description of the dispatch and worker routes, tagged by service, with examples."""
    routes = described_routes(app)
    doc = get_openapi(title="xuncha review API", version="1", description=DESCRIPTION, routes=routes)
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    case_schema = CaseMessage.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(case_schema.pop("$defs", {}))
    schemas["CaseMessage"] = case_schema
    doc["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    doc["security"] = [{"bearer": []}]
    for route in routes:
        for method in route.methods - {"HEAD"}:
            path = route.path_format
            op = doc["paths"][path][method.lower()]
            op["tags"] = sorted(route_roles(route) & set(SERVICES))
            _add_examples(op, EXAMPLES.get((method, path), {}))
    case = doc["paths"]["/api/cases/{case_id}"]["get"]["responses"]["200"]["content"]["application/json"]
    case["schema"] = {"type": "object", "properties": {"case": {"$ref": "#/components/schemas/CaseMessage"}}}
    return doc


def _add_examples(op: dict[str, Any], example: dict[str, Any]) -> None:
    for kind, media in (("json", "application/json"), ("form", "multipart/form-data")):
        if kind in example:
            op.setdefault("requestBody", {}).setdefault("content", {}).setdefault(media, {})["example"] = example[kind]
    if "response" in example:
        ok = next(code for code in op["responses"] if code.startswith("2"))
        body = example["response"]
        media = "application/json" if isinstance(body, dict) else "text/plain"
        op["responses"][ok].setdefault("content", {}).setdefault(media, {})["example"] = body
