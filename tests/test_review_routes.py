"""The review app's routers: every operation carries its resource's tag in the OpenAPI schema, and
every route sits in app.routes itself (the walks of api_docs and test_review_auth see them all)."""

from __future__ import annotations

from pathlib import Path

from fastapi.routing import APIRoute
from review_support import review_config
from sqlalchemy.orm import sessionmaker
from starlette.routing import Mount

from xuncha.review.app import create_app
from xuncha.taxonomy import load_taxonomy


def test_every_operation_is_tagged_by_resource_and_every_route_is_walkable(tmp_path: Path) -> None:
    app = create_app(review_config(tmp_path), load_taxonomy(), sessionmaker())
    # An included router (FastAPI >= 0.137) would be one lazy node here, its routes out of the walks.
    assert all(isinstance(r, APIRoute | Mount) for r in app.routes), [type(r).__name__ for r in app.routes]
    ops = {(m, p): op for p, item in app.openapi()["paths"].items() for m, op in item.items()}
    assert len(ops) >= 50
    assert [k for k, op in ops.items() if len(op.get("tags", [])) != 1] == []
    assert ops[("get", "/api/clues")]["tags"] == ["clues"]
    assert ops[("post", "/api/clues/{clue_id}/accept")]["tags"] == ["decisions"]
    assert ops[("post", "/api/cases/{case_id}/handled")]["tags"] == ["cases"]
    assert ops[("get", "/api/dead-letters")]["tags"] == ["dead letters"]
