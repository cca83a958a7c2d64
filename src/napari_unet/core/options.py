"""One description per user-facing option: the command's ``--help``, dock tooltips and docs.

Defaults live in the dataclasses and signatures that use them
(:class:`~napari_unet.core.training.config.TrainConfig`,
:class:`~napari_unet.core.inference.postprocess.Postprocess`,
:class:`~napari_unet.core.training.targets.WeightMapSettings`, the Predictor's keywords);
what an option does, and in which unit, is written once, here. The command line appends
the default to the text, the docks show it as the control's tooltip, and docs/options.md
is generated from it (``scripts/options_doc.py``; a test keeps it current).
"""

from __future__ import annotations

__all__ = ["OPTIONS", "describe"]

#: Section -> option -> what it does (with its unit).
OPTIONS: dict[str, dict[str, str]] = {
    "Models": {
        "model": "the model: a model file (.safetensors) or a built-in model name (nuclei: "
        "fluorescence; nuclei-brightfield: brightfield and H&E histology; auto: one of the two "
        "for each image, by whether its background is dark or bright); predict also takes a "
        "bioimage.io model package (.zip): one napari-unet exported, or another tool's 2D "
        "package",
        "export_model": "the model to share: a model file (.safetensors), a built-in model "
        "name (nuclei, nuclei-brightfield), or a package napari-unet exported (.zip)",
        "model_file": "a model file (.safetensors) written by napari-unet, or a bioimage.io "
        "model package (.zip): one napari-unet exported, or another tool's 2D package with "
        "pytorch_state_dict or torchscript weights (run through bioimageio.core)",
        "start_from": "what training starts from: the built-in model for the image (nuclei "
        "for a dark background, nuclei-brightfield for a bright one), a model file "
        "(fine-tuning) or random weights (from scratch, with the architecture chosen below)",
        "arch": "architecture preset for training from scratch: tiny (8 base channels, 3 "
        "levels), small (16, 4), standard (32, 5), paper (64, 5, unpadded); see docs/models.md",
        "head": "what the network predicts, for training from scratch: paper (2 classes with "
        "a gap between touching cells), 3class (background, interior, boundary) or distance "
        "(2 classes and each cell's distance to its outline); see docs/training.md#heads",
        "init": "fine-tune from this model file or built-in model (nuclei, nuclei-brightfield, "
        "or auto: the one most training images get); same architecture and class count",
        "init_file": "the model file (.safetensors) to fine-tune when starting from a model "
        "file (built-in models are chosen in start from); same architecture and class count",
        "resume": "continue a run saved by napari-unet (the optimiser state beside the model "
        "file), up to the total number of steps (the run's own unless steps are given), "
        "validated as it was unless validation is given again",
    },
    "Prediction": {
        "image": "the Image layer to use (grey, colour or a stack of planes)",
        "inputs": "image files (TIFF, PNG), folders of them, or Zarr stores",
        "channel": "what a grey model reads of a colour or multichannel image: auto (one "
        "channel when all are equal, else their mean), their mean, or one channel; an RGBA "
        "alpha is never used",
        "tile": "input tile side in pixels, rounded up to a size the model accepts; "
        "automatic (0 in the dock): the largest tile that fits the memory, in the dock the "
        "largest the model runs in half a second, so progress and Cancel act often",
        "flips": "test-time augmentation: average the model's output over the image and "
        "its three flips (four times the prediction time; see docs/predict.md)",
        "background": "uneven light: auto (subtract the background, a smooth surface under "
        "the cells, before prediction when it varies by more than 0.3 of the image's range), "
        "flatten (always) or keep (never); images in memory only (see docs/predict.md)",
        "denoise": "few photons: auto (blur an image whose brightest pixels caught fewer than "
        "about 40 photons, photon noise, by half a pixel before prediction; by one pixel "
        "below 6) or off (never); images in memory only (see docs/predict.md)",
        "batch": "tiles per forward pass (halved automatically when a GPU runs out of memory)",
        "device": "where the model runs: auto (CUDA, then Apple MPS, then the CPU), cpu, "
        "cuda, cuda:N or mps",
        "dock_device": "where the model runs: auto (CUDA, then Apple MPS, then the CPU), cpu, "
        "cuda (the first CUDA GPU) or mps",
        "precision": "arithmetic: fp32, or fp16/bf16 on a CUDA GPU; bf16 also on a CPU with "
        "AMX (about 2x faster there, probabilities within a few hundredths); elsewhere the CPU "
        "computes in fp32",
        "scope": "predict the whole image, or only the current view (and plane of a stack); "
        "the tiles still read the pixels around the view they need",
        "object_size": "typical object (cell, nucleus) diameter in the image, in pixels: "
        "each plane is resized so its objects match the size the model was trained on (its "
        "file records it) and the labels are resized back; estimate: measure it with a first "
        "segmentation and rescale only objects beyond the sizes the model saw in training; "
        "auto (the default; 0 in the dock): estimate where the model records its size and "
        "the image is in memory, else the image's own scale; none (the model's own size in "
        "the dock): predict at the image's own scale",
        "estimate_size": "segment the image once at its own scale and fill in the typical "
        "diameter of the objects found as the object size (or leave it on auto when that is "
        "within the sizes the model saw in training)",
        "probabilities": "also output the class probabilities (an Image layer, or "
        "NAME_probabilities files)",
        "add_probabilities": "also add the foreground probability (0 to 1) as an Image layer, "
        "'<image> probabilities (<model>)'",
        "outdir": "folder for the results, NAME_labels.tif (.zarr for Zarr input); an input is "
        "never overwritten",
        "scheduler": "dask.distributed scheduler address (tcp://host:8786): predict chunk by "
        "chunk on that cluster",
        "overwrite": "replace existing output files",
        "predict": "segment the image in the background with the chosen model",
        "cancel": "cancel the prediction; nothing is added",
        "save_segmentation": "save the dock's last segmentation to a TIFF file, or a Zarr "
        "store for large images (never over the image's own file)",
        "save_model": "save the model trained in this session to a model file (.safetensors), "
        "to predict with it or fine-tune it later",
    },
    "Whole-slide images": {
        "slide_model": "the model: a model file (.safetensors) or a built-in model name "
        "(nuclei: fluorescence; nuclei-brightfield: brightfield and H&E histology; auto: one "
        "of the two, chosen on five windows of the image); a bioimage.io package napari-unet "
        "exported (.zip) becomes a model file with napari-unet import",
        "slide_input": "a Zarr array or an OME-Zarr image (one 2D plane, channels allowed), "
        "read chunk by chunk",
        "slide_output": "the label store to write (an OME-Zarr label image); default for "
        "OME-Zarr input: INPUT/labels/NAME, inside the image",
        "labels_name": "the name of the label image (INPUT/labels/NAME for OME-Zarr input)",
        "block": "side of the blocks labelled one at a time, in pixels (memory grows with "
        "its square)",
        "margin": "pixels read around each block to split joined cells there; objects larger "
        "than about margin - gap - 16 pixels are not split",
        "cluster_workers": "start a local dask.distributed cluster with this many worker "
        "processes and run every pass on it (0: in this process, one block at a time)",
    },
    "Post-processing": {
        "threshold": "foreground probability (0 to 1) above which a pixel belongs to a cell",
        "min_size": "smallest object kept, as an area in pixels (px²); smaller pieces are "
        "removed as noise",
        "split": "split cells left joined at a neck, in pixels of distance each half must "
        "rise above the neck (0 = off; larger splits less)",
        "seed_level": "3class and distance heads: the interior probability or normalised "
        "distance (0 to 1) above which a pixel seeds a cell; lower merges fewer touching "
        "cells but may split elongated ones",
    },
    "Training": {
        "train_images": "training images (files, or folders of images)",
        "labels": "the annotations (instance labels): one integer id per cell, 0 for background",
        "label_files": "instance label images, one per image in the same order (one integer "
        "id per cell, 0 for background)",
        "region_files": "annotated-region masks, one per image in the same order: pixels that "
        "are 0 were not annotated and are not trained on",
        "region": "the annotated region: only pixels inside it are trained on (or scored); "
        "a Shapes layer, or non-zero pixels of a Labels layer or mask file",
        "steps": "total optimisation steps (a resumed run continues up to this count; on "
        "the command line, left out, up to the run's own total)",
        "lr": "learning rate of the optimiser (a step size), or auto: the optimiser's default "
        "from scratch; when fine-tuning, a tenth of it if the start model already segments the "
        "training annotations (AP50 >= 0.5 before the first step), else the default; a resumed "
        "run keeps its rate",
        "optimizer": "adam, or sgd (with the paper's momentum 0.99)",
        "schedule": "learning-rate schedule after a short warm-up: constant, cosine or poly",
        "batch_size": "training crops per optimisation step",
        "crop_size": "side of the training crops in pixels (rounded to a size the model accepts)",
        "validation": "what validation scores: held-out rows at the bottom of the training "
        "image, nothing, or another Image layer with its labels",
        "val_images": "validation images (files, or folders of images)",
        "val_labels": "the annotations of the validation image",
        "val_label_files": "instance label images of the validation images, one per image in "
        "the same order",
        "val_fraction": "without validation images: the fraction of the largest image's rows "
        "held out at its bottom",
        "val_every": "steps between validations (and updates of the live preview)",
        "workers": "threads preparing batches (0: automatic, one on a CPU, up to four on a GPU)",
        "augment_on": "where training crops are cut and augmented: host (numpy threads), "
        "device (torch on the training device, each image uploaded once) or auto (the device "
        "on a CUDA GPU, the host on a CPU)",
        "train_precision": "arithmetic on the GPU: auto (fp16 on CUDA, fp32 elsewhere), fp32, "
        "fp16 or bf16",
        "grey": "average the channels (colour or 2 or more stains) into one grey channel",
        "no_augment": "train without augmentation (no flips, rotations, elastic deformation "
        "or intensity changes)",
        "robust": "also train for worse images than the training images: random blur, uneven "
        "light and shot and read-out noise (see training.md)",
        "zoom": "random zoom by up to a factor 1+F either way (augmentation; 0: off, 0.4 suits "
        "nuclei)",
        "dice": "weight of a soft-Dice term added to the weighted cross entropy (0: off)",
        "seed": "random seed of the initial weights, the crops and the augmentation",
        "output": "model file to write (.safetensors); the best weights go to "
        "NAME.best.safetensors beside it",
        "save_to": "model file to write (.safetensors), the best weights to NAME.best beside "
        "it; empty: IMAGE.unet.safetensors beside the image file",
        "log": "JSON-lines log of every event (default: the model file with .jsonl)",
        "quiet": "print no progress bar (only the results)",
        "add_pair": "add the chosen image, annotations and annotated region to the training pairs",
        "clear_pairs": "forget the added pairs (train on the chosen image and annotations)",
        "train": "start training in the background; napari stays usable",
        "stop": "stop after the current step; the model trained so far is kept and saved",
        "resume_run": "continue the last run, with its optimiser state, up to the number of steps",
    },
    "Weight maps": {
        "w0": "height of the border term of the weight map (the paper: 10)",
        "sigma": "width of the border term in pixels (the paper: 5); above about 15 px the "
        "weights take a slower path (2048 x 2048 with 2,000 cells: 11 s at 30 px, 37 s at 60, "
        "minutes beyond), so the Weight map dock stops at 50",
        "gap": "background gap between touching cells in the training target, in pixels",
        "class_weights": "class balance w_c: balanced (each class weighs the same in total), "
        "none (all 1), or one weight per class",
        "dock_class_weights": "class balance w_c: balanced (each class weighs the same in "
        "total) or none (all 1); one weight per class: napari-unet weights --class-weights",
        "mode": "target classes: binary (cell, background) or 3class (background, interior, "
        "boundary)",
        "show_target": "also show the separated training target as a Labels layer",
        "live": "recompute after every change of a setting or a paint stroke (after a short "
        "quiet period)",
        "weights_output": "the weight map to write: float32 TIFF or Zarr",
        "mask_file": "the annotated region: a mask file whose non-zero pixels were annotated; "
        "the weights are 0 outside it",
        "target_file": "also write the uint8 training target to this file",
        "compute": "compute the weight map now (in the background)",
    },
    "Annotation": {
        "axes": "how the leading axis of a 3D image is read: auto, 2D, a stack of planes, "
        "or channels",
        "project_folder": "where annotations autosave; empty: IMAGE.napari-unet beside the "
        "image file",
        "prediction": "a Labels layer of predicted cells to accept into the annotations",
        "min_piece": "smallest piece of a predicted cell accepted, as an area in pixels (px²)",
        "tiff_file": "TIFF file to export the annotations to, or import them from",
        "start_annotating": "create (or reopen from the project folder) the annotation and "
        "region layers of the chosen image",
        "new_cell": "paint the next cell with a fresh label id (key n)",
        "accept": "copy the predicted cells inside the annotated region into the annotations, "
        "never over painted cells (one undo step)",
        "export": "write the annotations to the TIFF file",
        "import": "replace the annotations with the TIFF file's labels (one undo step)",
        "save_now": "write the annotations to the project folder now",
    },
    "Evaluation": {
        "scored": "the predicted and ground-truth labels (two files or two folders, matched by "
        "name), or one model file or built-in model name to segment --images first",
        "eval_images": "the images to segment (with a model)",
        "ground_truth": "the reference labels the prediction is scored against",
        "predicted": "the predicted labels to score",
        "compare": "more predicted labels to score against the same ground truth, one column "
        "each (Ctrl-click to choose several; e.g. the results of two models)",
        "per_plane": "score each plane of a stack as its own image, then in total",
        "thresholds": "IoU thresholds in [0, 1); a match needs IoU above the threshold",
        "json": "write every number to this JSON file",
        "evaluate": "score the prediction against the ground truth in the background",
        "evaluate_section": "score segmentations against ground truth (your annotations or "
        "another reference Labels layer): DSB2018 AP, F1, PQ, pixel and Rand scores; after "
        "each prediction its layers are picked here",
    },
    "Measurement": {
        "measure_labels": "label images (TIFF, PNG; one integer id per object, 0 for "
        "background) or folders of them, such as the NAME_labels.tif files of predict",
        "measure_images": "images to measure intensities in (files or folders), matched to "
        "the label files by name (NAME_labels, NAME_masks, NAME_cp_masks or NAME itself goes "
        "with the image NAME), else in order when there are as many as label files",
        "measure_output": "the per-object CSV file to write: one row per object, its image's "
        "name first",
        "summary": "also write a CSV file with one summary row per image (object count, "
        "areas, diameters, mean intensities)",
        "pixel_size": "pixel size in micrometres, one number or Y,X: adds columns in µm and "
        "µm²; not set: read from each image's TIFF metadata (OME, ImageJ or resolution tags), "
        "else the label file's, else pixels only",
    },
    "Sharing (bioimage.io)": {
        "package_output": "the bioimage.io model package to write (NAME.zip)",
        "package_name": "the package's name (default: a package's own name, else the model's "
        "recorded name, else the file name)",
        "author": "who trained the model, as the package names them (repeat for several; "
        "default: a package's own authors, else the model's recorded authors)",
        "license": "the package's licence, an SPDX identifier (for example CC-BY-4.0, MIT; "
        "default: a package's own licence, else the model's recorded one, else BSD-3-Clause)",
        "check_package": "run bioimageio.core's model test on the written package and print "
        "its summary (exit 1 if it fails)",
        "package": "a bioimage.io model package (.zip) written by napari-unet export",
        "import_output": "the model file to write (.safetensors)",
        "export_package": "write the dock's model as a bioimage.io model package (.zip) for "
        "deepImageJ, ilastik, QuPath, Fiji and bioimage.io, then test it with bioimageio.core "
        "(needs the bioimageio extra; see docs/models.md)",
    },
    "Demo": {
        "sample": "the sample image to open",
        "screenshot": "save a picture of the window to this PNG file and exit",
        "size": "window size in pixels, WIDTHxHEIGHT",
    },
}


def describe(name: str) -> str:
    """What option ``name`` does, in one sentence with its unit.

    Raises
    ------
    KeyError
        If ``name`` is not an option of :data:`OPTIONS`.
    """
    for section in OPTIONS.values():
        if name in section:
            return section[name]
    raise KeyError(f"no description for option {name!r}")
