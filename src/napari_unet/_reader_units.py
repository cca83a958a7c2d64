"""The units of the reader's layers: the axes' own, a label image's from its image.

napari shows units (the scale bar's micrometres, the status line's) only while every layer's
units are alike: one layer in pixels beside others in micrometres, and it warns
"Inconsistent units across layers" and drops them for the whole viewer. So an axis of a
label image that names no unit takes the unit of the same axis of the image it labels
(``image-label``'s ``source``, by default ``../../``), as ``napari-unet measure`` reads its
pixel size (:func:`~napari_unet.core.images.omezarr.pixel_size_um`); before, it was in
pixels, and the image lost its micrometres. :func:`clashes` tells the reader which series
of a bioformats2raw root would mix units with its first (main) series.
"""

from __future__ import annotations

from pathlib import Path

from napari_unet.core.errors import InputError

__all__ = ["clashes", "layer_units"]


def layer_units(path: Path, ome: dict, ndim: int, labels: bool) -> list[str]:
    """The units of the axes (``"micrometer"``; ``"pixel"`` where an axis names none).

    A unit napari does not know is taken as ``"pixel"``. ``labels``: an axis naming no unit
    takes the unit of the labelled image's axis of the same name (the same place from the
    end where the axes are unnamed). Before, every layer opened in pixels: the scale bar
    and the status line lost the image's micrometres.
    """
    import pint

    axes = _axes(ome)
    units = [a.get("unit") if isinstance(a, dict) else None for a in axes]
    if len(units) != ndim:
        return ["pixel"] * ndim
    if labels and not all(_named(u) for u in units):
        units = _with_image_units(path, ome, axes, units)
    registry = pint.get_application_registry()
    out = []
    for unit in units:
        try:
            out.append(str(registry.Unit(unit)) if _named(unit) else "pixel")
        except Exception:  # noqa: BLE001 - pint's many parse errors: an unknown unit
            out.append("pixel")
    return out


def clashes(units: list[str], others: list[str]) -> bool:
    """Whether napari drops the units of layers in ``units`` beside ones in ``others``.

    As napari compares them: the axes from the last, by dimensionality (a length, a time,
    pixels); micrometres beside nanometres are alike.
    """
    import pint

    registry = pint.get_application_registry()
    try:
        for a, b in zip(reversed(units), reversed(others), strict=False):
            if registry.Unit(a).dimensionality != registry.Unit(b).dimensionality:
                return True
    except Exception:  # noqa: BLE001 - a unit pint cannot read: napari reads none either
        return True
    return False


def _named(unit) -> bool:
    return isinstance(unit, str) and bool(unit.strip())


def _axes(ome: dict) -> list:
    axes = ome["multiscales"][0].get("axes") or []
    return axes if isinstance(axes, list) else []


def _with_image_units(path: Path, ome: dict, axes: list, units: list) -> list:
    """``units`` with the labelled image's unit on each axis that names none."""
    from napari_unet.core.images.omezarr import group_attrs

    label = ome.get("image-label")
    source = label.get("source") if isinstance(label, dict) else None
    image = source.get("image", "../../") if isinstance(source, dict) else "../../"
    try:
        found = group_attrs((Path(path) / str(image)).resolve())
        image_axes = _axes(found[0]) if found and found[0].get("multiscales") else []
    except (InputError, OSError, KeyError, IndexError, TypeError, AttributeError):
        return units  # no image, or a damaged one: the axes stay in pixels
    by_name = {a.get("name"): a.get("unit") for a in image_axes if isinstance(a, dict)}
    out = list(units)
    for k, (axis, unit) in enumerate(zip(axes, units, strict=True)):
        if _named(unit):
            continue
        name = axis.get("name") if isinstance(axis, dict) else None
        if name is not None and name in by_name:
            out[k] = by_name[name]
        elif name is None and len(units) - k <= len(image_axes):
            place = image_axes[len(image_axes) - (len(units) - k)]
            out[k] = place.get("unit") if isinstance(place, dict) else None
    return out
