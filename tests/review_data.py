"""Shared images the review tests use (the fixture ``review_folder`` copies them)."""

#: Five shared DSB2018 test images: four fluorescence (the third crowded, the sample's image)
#: and one histology (RGB), in name order.
REVIEW_NAMES = [
    "001_003cee89357d", "010_03f583ec5018", "011_0402a81e7526", "013_05040e2e959c",
    "032_0bf33d3db428",
]  # fmt: skip
