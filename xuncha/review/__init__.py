"""The review service: clue intake, the operators' web UI and API, decisions and stats, cases to dispatch.

Run it with `xuncha review --config FILE` (see configs/review.yaml); modules: config, intake, decisions,
cases (outbox and relay), auth, stats, app (FastAPI), cli. Its tables and migrations are `xuncha.db`.
"""
