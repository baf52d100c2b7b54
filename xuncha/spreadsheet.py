"""Cells that a spreadsheet shows as the text they are: every CSV and xlsx export writes through `safe_cell`.

Text that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is a formula to Excel or LibreOffice
(`=HYPERLINK("http://x","ok")` in a camera name would be a live link); a leading apostrophe makes it
text, as OWASP advises against CSV injection. Numbers pass unchanged. `plain_cell` undoes it when
such a file is imported again.

>>> print(safe_cell('=HYPERLINK("http://x","ok")'))
'=HYPERLINK("http://x","ok")
>>> safe_cell("-3号"), safe_cell(-3), safe_cell("路口"), plain_cell(safe_cell("@SUM(1)"))
("'-3号", -3, '路口', '@SUM(1)')
"""

from __future__ import annotations

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_START) else value


def plain_cell(value: str) -> str:
    return value[1:] if value.startswith("'") and value[1:].startswith(FORMULA_START) else value
