"""Reports for leaders (日报, 周报 hotspots, escalation, 立案率): SQL aggregates, HTML with SVG charts, xlsx.

`query` computes each report in the database (grouped aggregates on indexed columns) and returns plain
dataclasses; `charts` draws them as inline SVG; `xlsx` writes the same tables with native Excel charts.
"""
