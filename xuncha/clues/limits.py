"""Limits of a clue event, in one place: the message contracts (and so the JSON Schema) and the review
database columns both use them, so that what the schema accepts, the database stores."""

from __future__ import annotations

# A whole event is ~2 KB; anything this large is not one of ours and goes to the dead letters unread.
MAX_MESSAGE_BYTES = 64 * 1024

# Characters (PostgreSQL VARCHAR counts characters, as Python's len does).
ID_CHARS = 64  # camera, zone and region ids, PTZ presets
NAME_CHARS = 200  # camera, zone and region names
CATEGORY_CODE_CHARS = 16
CATEGORY_NAME_CHARS = 100  # category names, 六乱 groups
MODEL_NAME_CHARS = 100  # model names and labels
CHECKSUM_CHARS = 200
CLUE_ID_CHARS = 128
EVENT_ID_CHARS = 160  # f"{clue_id}:{seq}"
KIND_CHARS = 16
CLOSED_REASON_CHARS = 64
EVIDENCE_PATH_CHARS = 300
MAX_CHECKSUMS = 16  # models involved in one clue
TEXT_CHARS = 2000  # what the text stage read at one place (a poster holds a few dozen characters)
PHONE_CHARS = 20  # a phone number, digits only
MAX_PHONES = 20  # phone numbers in one clue

# PostgreSQL INTEGER: seq, occurrences, frame sizes.
MAX_INT = 2**31 - 1
