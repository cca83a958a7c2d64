"""What a model file records of the data it was trained on, also over a resumed run's parts.

``provenance.data`` and ``provenance.validation`` name the pairs, ``provenance.cells`` counts
the cells ``object_size`` was measured on, and :func:`data_facts` gives ``object_size`` and
``background``. A resumed run records the data of all its parts (:func:`record_data`).
"""

from __future__ import annotations

import hashlib
import math

import numpy as np

__all__ = ["data_facts", "fingerprint", "object_size", "record_data"]


def record_data(meta: dict, pairs, val, resume=None) -> None:
    """Write into ``meta`` what the run trains on: names, cell count, object size, background.

    Each pair is told by its content (``provenance.data_ids``, a short hash of its image,
    labels and region; an older file's parts by their names). A resumed run (``resume``: a
    result or a model file's, its ``metadata`` the earlier parts' record) that trains on
    every earlier part's data records its own, as one run over it would; one on data the
    record already holds keeps that record (a merged run resumed again on its last part:
    before this, its cells were counted again at each resume); otherwise the pairs new to
    the record are added: their names after the earlier ones, ``background`` only when
    every part recorded the same one (mixed data records none, as one run over it does),
    ``object_size`` the parts' sizes combined (their geometric mean weighted by the cells
    each was measured on). ``validation`` names this part's validation pairs, those its
    scores are on. Before, a resumed run recorded its own part only: a fluorescence model
    resumed on an H&E image said it was trained on that image alone, ``background``
    "bright"; and two data sets of the same file names counted as one.
    """
    names, ids = [p.name for p in pairs], [fingerprint([p]) for p in pairs]
    before = getattr(resume, "metadata", None) or {}
    earlier = before.get("provenance") if isinstance(before.get("provenance"), dict) else {}
    old_names = [n for n in earlier.get("data") or [] if isinstance(n, str)]
    old_ids = earlier.get("data_ids")
    by_content = isinstance(old_ids, list) and len(old_ids) == len(old_names)
    keys, old_keys = (ids, old_ids) if by_content else (names, old_names)
    if not old_keys or set(old_keys) <= set(keys):  # every earlier part's data: its own
        facts, cells = _facts(pairs)
    elif set(keys) <= set(old_keys):  # nothing new: the record as it was
        names, ids = old_names, list(old_ids) if by_content else None
        facts = {k: before[k] for k in ("object_size", "background") if k in before}
        cells = earlier.get("cells")
    else:  # the new pairs added to the earlier record
        new = [k not in set(old_keys) for k in keys]
        facts, cells = _facts([p for p, n in zip(pairs, new, strict=True) if n])
        facts, cells = _merged(facts, cells, before, earlier.get("cells"))
        names = old_names + [n for n, is_new in zip(names, new, strict=True) if is_new]
        added = [i for i, is_new in zip(ids, new, strict=True) if is_new]
        ids = list(old_ids) + added if by_content else None
    provenance = meta["provenance"]
    provenance |= {"data": names, "validation": [p.name for p in val]}
    if ids is not None:
        provenance["data_ids"] = ids
    if cells:
        provenance["cells"] = cells
    meta.update(facts)


def _merged(facts: dict, cells: int, before: dict, cells_before) -> tuple[dict, int | None]:
    """``(facts, cells)`` of this part's data and of the earlier parts' (``before``)."""
    merged = {}
    if facts.get("background") is not None and before.get("background") == facts["background"]:
        merged["background"] = facts["background"]
    parts = [(before.get("object_size"), cells_before), (facts.get("object_size"), cells)]
    sizes = [(float(s), n) for s, n in parts if _positive(s)]
    if sizes:
        # Weighted by their cells when every part counted them (older files did not): equal.
        weights = [n if all(_positive(k) for _, k in sizes) else 1 for _, n in sizes]
        mean = sum(w * math.log(s) for (s, _), w in zip(sizes, weights, strict=True))
        merged["object_size"] = round(math.exp(mean / sum(weights)), 2)
    # A part without cells adds none (before, the count was dropped for good)
    return merged, int(cells_before) + int(cells or 0) if _positive(cells_before) else None


def fingerprint(pairs) -> str:
    """A short hash of pairs (images, labels, regions) to tell data sets apart."""
    h = hashlib.blake2b(digest_size=8)
    for pair in pairs or []:
        for arr in (pair.image, pair.labels, pair.mask):
            if arr is not None:
                h.update(repr((arr.shape, str(arr.dtype))).encode())
                h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def _positive(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def data_facts(pairs) -> dict:
    """What a model file records of its training images: ``object_size``, ``background``.

    ``object_size``: :func:`object_size`, rounded. ``background``: ``"dark"``
    (fluorescence) or ``"bright"`` (brightfield, H&E) when all of up to eight grey or colour
    training planes read the same way round (their channels averaged, as the model was
    given them; :func:`~napari_unet.core.images.contrast.background_kind`); prediction
    judges an image the same way and warns when it reads the other way. Mixed data records
    none.
    """
    return _facts(pairs)[0]


def _facts(pairs) -> tuple[dict, int]:
    """``(data_facts, the number of cells object_size was measured on)``."""
    from napari_unet.core.images.contrast import background_kind

    facts = {}
    size, cells = _measured(pairs)
    if size is not None:  # the typical cell diameter it learnt
        facts["object_size"] = round(size, 2)
    kinds = {background_kind(p.raw, channel_axis=0) for p in pairs[:8]} - {None}
    if len(kinds) == 1:
        facts["background"] = kinds.pop()
    return facts, cells


def object_size(pairs) -> float | None:
    """The median cell diameter of the training pairs (pixels), or None without cells.

    The model file records it (``object_size``): prediction compares it with the cells of
    a new image.
    """
    return _measured(pairs)[0]


def _measured(pairs) -> tuple[float | None, int]:
    from napari_unet.core.images.sizes import median_diameter

    return median_diameter([_objects(p.labels) for p in pairs], [p.mask for p in pairs])


def _objects(labels):
    """Instance labels to measure object sizes on.

    A mask of one id (a semantic mask) is split into its connected parts: its whole
    foreground is no object size (a model trained on them recorded 148 px for 13 px nuclei).
    """
    from scipy import ndimage

    labels = np.asarray(labels)
    if labels.size == 0 or int(labels.max()) > 1:
        return labels
    return ndimage.label(labels > 0)[0]
