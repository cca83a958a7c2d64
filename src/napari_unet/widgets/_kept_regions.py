"""The region of an image whose annotated-region layer was removed (the Annotate dock).

Moved from :mod:`._session` to keep that module small.
"""

from __future__ import annotations

__all__ = ["KeptRegions"]


class KeptRegions:
    """The region of an image whose region layer was removed, kept across sessions.

    Start brings the layer back with it when the project folder holds no newer region
    (none saved there, or the same folder): before, a Start after the layer was removed
    on an image without a project folder (or a read-only one) gave a whole-image rectangle.
    """

    def __init__(self) -> None:
        self._held: list[tuple] = []  # (image layer, project folder, region state)

    def keep(self, image, folder, region: list | None) -> None:
        """Keep ``region`` (None: nothing kept) as ``image``'s, last saved to ``folder``."""
        self.forget(image)
        if image is not None and region is not None:
            self._held.append((image, folder, region))

    def take(self, image, folder, project) -> list | None:
        """``image``'s kept region for a session in ``folder`` (None: none), no longer kept."""
        for held, was, region in self._held:
            if held is image:
                self.forget(image)
                saved = project is not None and (
                    project.region_data or project.annotations is not None
                )
                return region if was == folder or not saved else None
        return None

    def forget(self, layer) -> None:
        """``layer`` (an image) leaves the viewer, or its region is taken back."""
        self._held = [h for h in self._held if h[0] is not layer]
