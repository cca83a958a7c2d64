"""Where ``predict`` computes Zarr input's probabilities chunk by chunk: a store of its own."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def store_for(src: Path, outs: dict, outdir: Path) -> Iterator[Path]:
    """The store ``src``'s probabilities go to: the asked-for output, else this run's scratch.

    The scratch (``.NAME.probabilities.zarr.PID.XXXX.scratch.tmp`` in ``outdir``) is this
    run's alone and removed at the end whatever happens (Ctrl-C, SIGTERM, an error); those
    of killed runs are removed first. Before, every run used ``.NAME.probabilities.tmp.zarr``
    and removed whatever was there at the end: a second run deleted a running one's store
    (which then failed), and a store of the user's that it had just refused to replace.
    """
    if "probabilities" in outs:
        yield outs["probabilities"]
        return
    from napari_unet.core.files import stale_temporaries
    from napari_unet.core.inference.slidestore import scratch_folder

    dest = outdir / f"{src.stem}.probabilities.zarr"
    for old in stale_temporaries(dest):
        shutil.rmtree(old, ignore_errors=True)
    with scratch_folder(dest) as scratch:
        yield scratch / "probabilities.zarr"
