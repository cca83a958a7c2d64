"""Training: targets and weight maps, training pairs, sampling, augmentation, the trainer.

Modules: :mod:`~napari_unet.core.training.targets` and
:mod:`~napari_unet.core.training.weightmap` (separated targets, the paper's weight map) with
:mod:`~napari_unet.core.training.distances` (their distance kernels);
:mod:`~napari_unet.core.training.pairs` (validated, normalised training pairs);
:mod:`~napari_unet.core.training.augment` and :mod:`~napari_unet.core.training.sampling`
(augmented crops, batches prepared in threads); :mod:`~napari_unet.core.training.losses`;
:mod:`~napari_unet.core.training.config` (settings) and
:mod:`~napari_unet.core.training.events` (progress events, the result);
:mod:`~napari_unet.core.training.setup` (start model, optimiser, crop sizes);
:mod:`~napari_unet.core.training.trainer` (the training generator),
:mod:`~napari_unet.core.training.checkpoint` (resume files) and
:mod:`~napari_unet.core.training.validation` (held-out scores).
"""
