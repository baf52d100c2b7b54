"""The review service: clue intake, the operators' web UI and API, decisions and stats, cases to dispatch.

Run it with `xuncha review --config FILE` (see configs/review.yaml); modules: config, db (+ Alembic
migrations; its tables by resource), intake, decisions, cases (outbox and relay), auth, stats, app (FastAPI), cli.
"""
