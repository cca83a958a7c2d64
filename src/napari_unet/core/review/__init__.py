"""Reviewing a folder of segmentations (no Qt, no napari).

The review file, the reviewed labels, predictions computed ahead of the reviewer, per-object
measurements and the export.
"""
