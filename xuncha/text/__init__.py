"""The text stage: reads new text (small ads, banners) in zones that have a text rule.

`stage` (schedule, reference text, blocks) is pure; `ocr` is the edge around RapidOCR, installed with
the `ocr` extra. What the text says (phone numbers, the stage's labels) is `xuncha.textpatterns`, below
zones, whose text rules (keywords, regex, phone) test it.
"""
