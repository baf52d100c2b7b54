"""The review service's OpenAPI description of the dispatch and worker endpoints (PostgreSQL): what it
lists, and that its examples have the shape of the real answers."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from review_support import add_users, database, login, make_event, review_config, write_evidence

from xuncha.clues.dispatch import CaseMessage
from xuncha.review import api_docs
from xuncha.review.app import create_app
from xuncha.review.intake import ingest
from xuncha.taxonomy import load_taxonomy

pytestmark = pytest.mark.postgres


def _example(method: str, path: str) -> dict:
    return api_docs.EXAMPLES[(method, path)]


def test_openapi_describes_dispatch_and_worker_endpoints_with_true_examples(tmp_path: Path) -> None:
    with database("postgresql", tmp_path) as (_url, sessions):
        tokens = add_users(sessions)
        cfg = review_config(tmp_path, undo_window_s=0)
        ev = make_event(1)
        write_evidence(cfg.evidence_root, ev)
        ingest(sessions, ev)
        app = create_app(cfg, load_taxonomy(), sessions)
        client = TestClient(app, base_url="https://testserver")
        dispatch = {"Authorization": f"Bearer {tokens['dispatch']}"}
        worker = {"Authorization": f"Bearer {tokens['worker']}"}

        assert client.get("/api/openapi.json").status_code == 401
        doc = client.get("/api/openapi.json", headers=dispatch).json()
        assert doc["openapi"].startswith("3.") and "xuncha.cases" in doc["info"]["description"]
        ops = {(m.upper(), p) for p, item in doc["paths"].items() for m in item}
        assert ops == set(api_docs.EXAMPLES)  # every described route has an example, and no other route
        assert ("POST", "/api/clues/{clue_id}/accept") not in ops and ("GET", "/api/users") not in ops
        handled = doc["paths"]["/api/cases/{case_id}/handled"]["post"]
        assert handled["tags"] == ["dispatch"] and "unit" in str(handled["requestBody"])
        assert doc["paths"]["/api/worker/cameras"]["post"]["tags"] == ["worker"]
        assert "CaseMessage" in doc["components"]["schemas"]
        CaseMessage.model_validate(api_docs.CASE_EXAMPLE)

        # The examples have the keys of the real answers.
        op = TestClient(app, base_url="https://testserver")
        op.headers["X-CSRF-Token"] = login(op, "op1")
        assert op.post("/api/clues/clue-001/accept").status_code == 200
        case = client.get("/api/cases/case-clue-001", headers=dispatch).json()
        assert case.keys() == _example("GET", "/api/cases/{case_id}")["response"].keys()
        assert case["case"].keys() == api_docs.CASE_EXAMPLE.keys()
        ex = _example("POST", "/api/cases/{case_id}/handled")
        r = client.post("/api/cases/case-clue-001/handled", headers=dispatch, data=ex["form"])
        assert r.status_code == 200 and r.json().keys() == ex["response"].keys()
        for path in ("/api/worker/cameras", "/api/worker/health"):
            ex = _example("POST", path)
            r = client.post(path, headers=worker, json=ex["json"])
            assert r.status_code == 200 and r.json().keys() == ex["response"].keys(), path
        r = client.get("/api/worker/models", headers=worker)
        assert r.status_code == 200 and r.json().keys() == _example("GET", "/api/worker/models")["response"].keys()
        r = client.get("/api/cameras/cam-1/fixtures", headers=worker)
        assert r.json().keys() == _example("GET", "/api/cameras/{camera_id}/fixtures")["response"].keys()
        r = client.get("/api/cameras/cam-1/gating", headers=worker)
        assert r.json().keys() == _example("GET", "/api/cameras/{camera_id}/gating")["response"].keys()
