"""Paper letters as plain Python (no Flask): layout, QR codes, glyph checks and PDF rendering.

- envelopes: where the address block sits for each window envelope type
- glyphs: every text is checked against the CJK font's cmap before rendering (no blank boxes)
- instructions: `show_if` conditions written as paper instructions ("go to question 5")
- qr: QR codes drawn as inline SVG
- layout: a letter (cover page + the questionnaire as a paper form) as HTML
- render: HTML sources to PDF bytes with a URL fetcher that refuses what it was not given
- batch: many letters per PDF, in as many processes as there are cores
"""
