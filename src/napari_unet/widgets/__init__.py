"""napari dock widgets: thin magicgui containers that call :mod:`napari_unet.core`."""
