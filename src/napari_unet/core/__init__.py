"""The engine of napari-unet: numpy, scipy, scikit-image, torch and dask only.

Nothing in this package imports Qt, napari, magicgui or superqt (a test checks it in a
fresh interpreter). Submodules are imported explicitly, so ``import napari_unet.core``
stays cheap and does not import torch.
"""
