"""What recognised text says: phone numbers, and the labels the text stage gives.

Pure functions on strings; a room below zones (whose text rules test them) and the text stage.

>>> phone_numbers("专业开锁 电话 138 1234 5678 / 020-8765 4321")
['13812345678', '02087654321']
>>> phone_numbers("编号 2138123456789")
[]
"""

from __future__ import annotations

import re

TEXT = "text"  # any new text
PHONE_NUMBER = "phone_number"  # new text with a phone number in it
BANNER = "banner"  # a long strip of large characters
TEXT_LABELS = frozenset({TEXT, PHONE_NUMBER, BANNER})

# Spaces, dots and dashes between digits are how numbers are printed (138 1234 5678, 020-87654321).
_DIGIT_JOIN = re.compile(r"(?<=\d)[\s.\-·—]+(?=\d)")
_AREA_BRACKETS = re.compile(r"[(（](0\d{2,3})[)）]")
# Mobile: 11 digits 1[3-9]...; landline: area code 0xx/0xxx then 7-8 digits. Not inside a longer digit run.
_PHONE = re.compile(r"(?<!\d)(1[3-9]\d{9}|0[1-9]\d{1,2}\d{7,8})(?!\d)")


def phone_numbers(text: str) -> list[str]:
    """Phone numbers in `text` as digit strings, in order of appearance, without repeats."""
    joined = _DIGIT_JOIN.sub("", _AREA_BRACKETS.sub(r"\1", text))
    out: list[str] = []
    for m in _PHONE.finditer(joined):
        if m.group(1) not in out:
            out.append(m.group(1))
    return out
