"""The review database, a room below the review service and the reports that both read it: the tables by
resource (`clues`, `users`, `cases`, `cameras`, `gating`, `promotions`, `deadletters`, on the shared
`base`), and `engine`: engine creation and the migrations (Alembic, under `xuncha/db/migrations/`)
applied at startup."""
