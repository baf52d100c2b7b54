"""The review service's database: the tables by resource (`clues`, `users`, `cases`, `cameras`, `gating`,
`promotions`, on the shared `base`), and `engine`: engine creation and the migrations (Alembic, under
`xuncha/review/migrations/`) applied at startup."""
