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

#: Public name -> the internal module (below napari_unet) that defines it.
_API: dict[str, str] = {
    # images in and out
    "read_image": "core.images.io",
    "write_image": "core.images.io",
    "touching_cells": "core.images.synthetic",
    "nuclei_data": "sample_data",
    # models and model files
    "UNet": "core.models.unet",
    "UNetPlusPlus": "core.models.unetpp",
    "UNet3Plus": "core.models.unet3p",
    "TileGeometry": "core.models.geometry",
    "build_model": "core.models.registry",
    "choose_device": "core.device",
    "load_model": "core.models.modelfile",
    "save_model": "core.models.modelfile",
    "read_metadata": "core.models.modelfile",
    "pretrained": "core.models.pretrained",
    "choose_pretrained": "core.models.pretrained",
    "export_bioimageio": "core.exchange.export",
    "import_bioimageio": "core.exchange.importer",
    "open_bioimageio": "core.exchange.foreign",
    # prediction
    "Predictor": "core.inference.plan",
    "predict": "core.inference.plan",
    "iter_predict": "core.inference.plan",
    "predict_to_zarr": "core.inference.plan",
    "PredictProgress": "core.inference.runner",
    "segment": "core.inference.segment",
    "iter_segment": "core.inference.segment",
    "segment_slide": "core.inference.slide",
    "iter_segment_slide": "core.inference.slide",
    "SlideProgress": "core.inference.slide",
    "SlideResult": "core.inference.slide",
    "estimate_object_size": "core.inference.segment",
    "iter_estimate_object_size": "core.inference.segment",
    "ObjectSize": "core.inference.scale",
    "median_diameter": "core.images.sizes",
    "DomainWarning": "core.inference.domain",
    "domain_warnings": "core.inference.domain",
    "Postprocess": "core.inference.postprocess",
    "probabilities_to_labels": "core.inference.postprocess",
    # targets and weight maps
    "separate_touching": "core.training.targets",
    "weight_map": "core.training.weightmap",
    "target_and_weights": "core.training.weightmap",
    "iter_target_and_weights": "core.training.weightmap",
    # training
    "make_pairs": "core.training.pairs",
    "TrainConfig": "core.training.config",
    "train": "core.training.trainer",
    "iter_train": "core.training.trainer",
    "TrainResult": "core.training.events",
    "TrainStarted": "core.training.events",
    "TrainStep": "core.training.events",
    "Evaluation": "core.training.events",
    "Checkpoint": "core.training.events",
    "Preview": "core.training.events",
    # annotation
    "merge_prediction": "core.annotation.edits",
    "next_free_id": "core.annotation.edits",
    "region_mask": "core.annotation.regions",
    "load_project": "core.annotation.project",
    "project_folder_for": "core.annotation.project",
    # evaluation
    "evaluate": "core.metrics.summary",
    "match_instances": "core.metrics.matching",
    "restrict_to_region": "core.metrics.region",
    "evaluate_many": "core.metrics.summary",
    "iter_evaluate_many": "core.metrics.summary",
    "summarize": "core.metrics.summary",
    # review and measurements
    "Review": "core.review.session",
    "export_review": "core.review.export",
    "iter_export": "core.review.export",
    "measure_objects": "core.review.measure",
    "read_pixel_size": "core.images.pixels",
    # training while painting
    "LiveTrainer": "core.live.trainer",
    "LiveConfig": "core.live.trainer",
    # running generators, errors
    "drain": "core.progress",
    "InputError": "core.errors",
    "IllegalTileSize": "core.models.geometry",
    "ModelFileError": "core.models.filecheck",
}

__all__ = ["__version__", *sorted(_API)]


def __getattr__(name: str):
    if name in _API:
        value = getattr(importlib.import_module(f"napari_unet.{_API[name]}"), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
