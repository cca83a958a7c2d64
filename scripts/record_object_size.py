"""Record the training object size in the built-in model file (metadata only).

The object size of a model is the median equivalent diameter (``2 * sqrt(area / pi)``) of
the annotated cells of its training images, pooled over them; the trainer records it
(``object_size``) in every model file it writes. The built-in nuclei model was trained
before that: this script measures it on the model's own training split (the names its
provenance lists, from DSB2018 as ``scripts/train_starter.py`` split it) and re-saves the
file with the key added and the tensors unchanged (the tensor checksum is compared).

Usage::

    python scripts/record_object_size.py --data ../shared/data/dsb2018 \\
        --model src/napari_unet/data/nuclei.unet.safetensors
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv=None) -> int:
    """Measure, re-save, check; print what was done."""
    import tifffile

    from napari_unet import load_model, median_diameter, save_model

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path("../shared/data/dsb2018"))
    p.add_argument(
        "--model", type=Path, default=Path("src/napari_unet/data/nuclei.unet.safetensors")
    )
    p.add_argument("--dry-run", action="store_true", help="measure and print only")
    args = p.parse_args(argv)
    model, meta = load_model(args.model)
    names = meta["provenance"]["data"]  # the training images (not validation, not test)
    masks = [tifffile.imread(args.data / "masks" / f"{name}.tif") for name in names]
    size, n = median_diameter(masks)
    size = round(size, 2)
    print(f"{len(names)} training images, {n} nuclei: median equivalent diameter {size} px")
    if args.dry_run:
        return 0
    before = meta["tensors_sha256"]
    save_model(args.model, model, **(meta | {"object_size": size}))
    _, after = load_model(args.model)
    if after["tensors_sha256"] != before or after["object_size"] != size:
        print("error: the re-saved file differs in its tensors", file=sys.stderr)
        return 1
    print(f"wrote {args.model}: object_size {size}, tensors unchanged ({before[:12]}...)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
