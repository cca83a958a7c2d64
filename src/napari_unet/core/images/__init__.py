"""Image data in and out: files, axes, normalisation, label checks, synthetic samples.

Modules: :mod:`~napari_unet.core.images.io` (TIFF/PNG/Zarr reading, atomic writing),
:mod:`~napari_unet.core.images.layout` (which axis is stack, channel or spatial),
:mod:`~napari_unet.core.images.normalize` (intensity normalisation recorded in model files),
:mod:`~napari_unet.core.images.labels` (the one check of instance-label arrays),
:mod:`~napari_unet.core.images.pixels` (the pixel size TIFF metadata records) and
:mod:`~napari_unet.core.images.synthetic` (touching cells with ground truth).
"""
