"""napari-unet: interactive U-Net cell segmentation in napari, and the same engine as a library.

Importing this package is cheap: napari imports it while listing plugins, so nothing heavy
(torch, Qt) is imported here. The public API below is loaded on first use::

    import napari_unet as nu

    model, metadata = nu.pretrained("nuclei")
    labels = nu.segment(model, image, metadata=metadata)

Everything a script needs is a name of this package (``__all__``); the modules under
``napari_unet.core``, ``napari_unet.widgets`` and ``napari_unet.cli`` are internal and may
change. See docs/api.md.
"""

from __future__ import annotations

import importlib

from napari_unet._version import __version__

_CORE = "napari_unet.core."
#: Public name -> the internal module that defines it.
_API: dict[str, str] = {
    # images in and out
    "read_image": "images.io",
    "write_image": "images.io",
    "touching_cells": "images.synthetic",
    # models and model files
    "build_model": "models.registry",
    "load_model": "models.modelfile",
    "save_model": "models.modelfile",
    "read_metadata": "models.modelfile",
    "pretrained": "models.pretrained",
    # prediction
    "Predictor": "inference.plan",
    "predict": "inference.plan",
    "iter_predict": "inference.plan",
    "predict_to_zarr": "inference.plan",
    "PredictProgress": "inference.runner",
    "segment": "inference.segment",
    "iter_segment": "inference.segment",
    "Postprocess": "inference.postprocess",
    "probabilities_to_labels": "inference.postprocess",
    # targets and weight maps
    "separate_touching": "training.targets",
    "weight_map": "training.weightmap",
    "target_and_weights": "training.weightmap",
    "iter_target_and_weights": "training.weightmap",
    # training
    "make_pairs": "training.pairs",
    "TrainConfig": "training.config",
    "train": "training.trainer",
    "iter_train": "training.trainer",
    "TrainResult": "training.events",
    "TrainStarted": "training.events",
    "TrainStep": "training.events",
    "Evaluation": "training.events",
    "Checkpoint": "training.events",
    "Preview": "training.events",
    # evaluation
    "evaluate": "metrics.summary",
    "evaluate_many": "metrics.summary",
    "summarize": "metrics.summary",
    # running generators, errors
    "drain": "progress",
    "InputError": "errors",
}

__all__ = ["__version__", *sorted(_API)]


def __getattr__(name: str):
    if name in _API:
        value = getattr(importlib.import_module(_CORE + _API[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
