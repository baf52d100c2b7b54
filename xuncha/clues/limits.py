"""Limits of a clue event, in one place: the message contracts and the review database both use them,
so that what the JSON Schema accepts, the database stores."""

from __future__ import annotations

# A whole event is ~2 KB; anything this large is not one of ours and goes to the dead letters unread.
MAX_MESSAGE_BYTES = 64 * 1024
