"""What a model file records of the data it was trained on, also over a resumed run's parts.

``provenance.data`` and ``provenance.validation`` name the pairs, ``provenance.cells`` counts
the cells ``object_size`` was measured on, and :func:`data_facts` gives ``object_size`` and
``background``. A resumed run records the data of all its parts (:func:`record_data`).
"""

from __future__ import annotations

import math

__all__ = ["data_facts", "object_size", "record_data"]


def record_data(meta: dict, pairs, val, resume=None) -> None:
    """Write into ``meta`` what the run trains on: names, cell count, object size, background.

    A resumed run (``resume``: a result or a model file's, its ``metadata`` the earlier
    parts' record) that trains on the data of every earlier part records its own data, as
    one run over it would. Otherwise it records all of them: the earlier parts' names
    first, then its own; ``background`` only when every part recorded the same one (mixed
    data records none, as one run over it does); ``object_size`` the parts' sizes combined
    (their geometric mean weighted by the cells each was measured on). ``validation``
    names this part's validation pairs, those its scores are on. Before, a resumed run
    recorded its own part only: a fluorescence model resumed on an H&E image said it was
    trained on that image alone, ``background`` "bright".
    """
    facts, cells = _facts(pairs)
    names = [p.name for p in pairs]
    before = getattr(resume, "metadata", None) or {}
    earlier = before.get("provenance") if isinstance(before.get("provenance"), dict) else {}
    old = [n for n in earlier.get("data") or [] if isinstance(n, str)]
    if old and not set(old) <= set(names):  # data of an earlier part this one lacks
        names = old + [n for n in names if n not in old]
        facts, cells = _merged(facts, cells, before, earlier.get("cells"))
    provenance = meta["provenance"]
    provenance |= {"data": names, "validation": [p.name for p in val]}
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
    known = _positive(cells_before) and _positive(cells)
    return merged, int(cells_before) + cells if known else None


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
    import numpy as np
    from scipy import ndimage

    labels = np.asarray(labels)
    if labels.size == 0 or int(labels.max()) > 1:
        return labels
    return ndimage.label(labels > 0)[0]
