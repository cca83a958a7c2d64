"""Shared images the review tests use (the fixture ``review_folder`` copies them)."""

#: Five shared DSB2018 test images: four fluorescence (the third crowded, the sample's image)
#: and one histology (RGB), in name order.
REVIEW_NAMES = [
    "001_003cee89357d", "010_03f583ec5018", "011_0402a81e7526", "013_05040e2e959c",
    "032_0bf33d3db428",
]  # fmt: skip


def send_corrected(review, qtbot) -> None:
    """Press the Review dock's Train on corrected and wait until the pairs are sent."""
    worker = review.train_on_corrected()
    if worker is not None:  # the files are read in a thread worker (it may be done already)
        qtbot.waitUntil(lambda: review._train.enabled, timeout=60_000)
