"""The text stage: reads new text (small ads, banners) in zones that have a text rule.

`patterns` (phone numbers, keyword and regex tests) and `stage` (schedule, reference text, blocks)
are pure; `ocr` is the edge around RapidOCR, installed with the `ocr` extra.
"""
