"""No napari deprecation toast from the docks' few private reads of a Labels layer.

A dock napari builds sees layers through napari's plugin proxy, which warns (a
FutureWarning, shown as a notification: "Private attribute access ('Labels._redo_history')
... is deprecated") on each private attribute a plugin reads; the Review dock showed it on
its first step, the Live dock four more.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from napari_unet.widgets import _history
from napari_unet.widgets._private import private, set_private


@pytest.fixture
def proxied():
    from napari.layers import Labels
    from napari.utils._proxies import PublicOnlyProxy

    return PublicOnlyProxy(Labels(np.zeros((32, 32), np.int32)))


def _future_warnings(run) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run()
    return [str(w.message) for w in caught if issubclass(w.category, FutureWarning)]


def test_the_proxy_warns_on_a_plain_read(proxied):  # what the docks' reads must avoid
    assert _future_warnings(lambda: proxied._undo_history)


def test_the_docks_reads_and_writes_warn_nothing(proxied):
    from napari_unet.widgets._evaluate_work import restore_history
    from napari_unet.widgets._live_view import write_box

    def use():
        undo, redo = _history.history_deques(proxied)
        proxied.paint((5, 5), 3)
        restore_history(proxied, undo.copy(), redo.copy())
        write_box(proxied, (0, 8, 0, 8), np.full((8, 8), 2, np.int32))
        assert private(proxied, "_block_history") is False
        assert private(proxied, "_no_such_thing", "absent") == "absent"
        assert set_private(proxied, "_contour", 1)

    assert _future_warnings(use) == []
    assert (np.asarray(proxied.data)[:8, :8] == 2).all()
