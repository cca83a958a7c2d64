"""Annotation: image axes, annotated regions, label edits, and the project folder.

Modules: :mod:`~napari_unet.core.annotation.axes` (which axes of an image are annotated),
:mod:`~napari_unet.core.annotation.regions` (Shapes to masks),
:mod:`~napari_unet.core.annotation.edits` (label ids, counts, accepting predictions) and
:mod:`~napari_unet.core.annotation.project` (autosave and restore beside the image).
"""
