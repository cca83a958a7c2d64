"""Prediction: tile arithmetic, one prediction plan for numpy and dask, post-processing.

Modules: :mod:`~napari_unet.core.inference.tiling` (pure tile arithmetic),
:mod:`~napari_unet.core.inference.runner` (the network on batches of tiles),
:mod:`~napari_unet.core.inference.plan` (settings fixed once; numpy, dask and Zarr runs),
:mod:`~napari_unet.core.inference.postprocess` (probabilities to instance labels) and
:mod:`~napari_unet.core.inference.segment` (prediction plus post-processing in one call).
"""
