"""Whether an image the review's prefetcher keeps in memory no longer shows what is on disk.

The prefetcher (:mod:`~napari_unet.core.review.prefetch`) keeps the images read ahead; one
is dropped, and read again, when its image file was rewritten since it was read, and when
it shows reviewed labels whose file is gone (removed to start the image over, or gone with
the output folder) while the reviewer's writer holds no copy of them on its way to the disk.
Read again, such an image starts over (:mod:`~napari_unet.core.review.startover`): before,
it was shown from memory as "reviewed", its correction neither on disk nor written back,
and Export left it out.
"""

from __future__ import annotations

from collections.abc import Callable

from napari_unet.core.review.items import Item, file_stamp

__all__ = ["stale"]


def stale(review, item: Item, unsaved: Callable | None) -> bool:
    """Whether ``item``, kept in memory, must be read again.

    Its image file's stamp changed (an item whose stamp is not known is read again too), or
    its labels are the reviewed ones and their file is gone, none on its way (``unsaved``:
    the writer's :meth:`~napari_unet.core.review.writer.Writer.unsaved`).
    """
    if item.stamp != file_stamp(review.path(item.name)):
        return True
    if item.source != "reviewed" or (unsaved is not None and unsaved(item.name) is not None):
        return False
    return not review.labels_path(item.name).exists()
