"""The training-target cache holds a bounded number of bytes, not 64 planes of any size.

Before, it held up to 64 entries of 5-9 bytes a pixel for the rest of the session after
training had ended (1.3 GB of 2048 px planes, 5 GB of 4096 px ones).
"""

from __future__ import annotations

import napari_unet as nu
from napari_unet.core.training import pairs


def _held() -> int:
    return sum(a.nbytes for v in pairs._CACHE.values() for a in v if a is not None)


def test_the_target_cache_is_bounded_by_bytes(monkeypatch):
    img, lab = nu.touching_cells((48, 48), n_cells=12, seed=0)
    entry = 48 * 48 * 5  # a uint8 target and a float32 weight map
    monkeypatch.setattr(pairs, "_CACHE", type(pairs._CACHE)())
    monkeypatch.setattr(pairs, "_CACHE_BYTES", 3 * entry, raising=False)
    for i in range(8):  # eight edits of the annotations: eight entries asked for
        edited = lab.copy()
        edited[edited == i + 1] = 0
        nu.make_pairs([img], [edited])
        assert _held() <= 3 * entry
    assert len(pairs._CACHE) == 3  # the three newest kept: still a cache
    again = nu.make_pairs([img], [edited])[0]
    assert len(pairs._CACHE) == 3 and again.target.flags.writeable  # a hit: a copy


def test_a_plane_over_the_limit_is_not_kept(monkeypatch):
    img, lab = nu.touching_cells((48, 48), n_cells=12, seed=0)
    monkeypatch.setattr(pairs, "_CACHE", type(pairs._CACHE)())
    monkeypatch.setattr(pairs, "_CACHE_BYTES", 48 * 48, raising=False)  # less than one entry
    pair = nu.make_pairs([img], [lab])[0]
    assert len(pairs._CACHE) == 0 and pair.weights.shape == (48, 48)
