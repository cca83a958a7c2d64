"""Reading and writing images: TIFF, PNG/JPEG and Zarr, with atomic writes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from napari_unet.core.errors import InputError
from napari_unet.core.files import atomic_folder, atomic_write
from napari_unet.core.images.layout import channels_last
from napari_unet.core.images.lazy import lazy_array
from napari_unet.core.images.tiffmeta import check_whole, resolution_tags
from napari_unet.core.images.tiffmeta import image_series as _image_series

TIFF_SUFFIXES = (".tif", ".tiff")
PIL_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
ZARR_SUFFIXES = (".zarr",)
IMAGE_SUFFIXES = TIFF_SUFFIXES + PIL_SUFFIXES + ZARR_SUFFIXES


#: The files that make a folder a Zarr array or group (v2: .zarray, .zgroup; v3: zarr.json).
ZARR_MARKERS = (".zarray", ".zgroup", "zarr.json")


def is_zarr(path: str | os.PathLike) -> bool:
    """Return True if ``path`` names a Zarr store (a ``.zarr`` name, or a Zarr array or group).

    A folder holding ``.zarray``, ``.zgroup`` or ``zarr.json`` is a store whatever its name:
    an OME-Zarr label image ``IMAGE.zarr/labels/NAME`` has no ``.zarr`` suffix.
    """
    p = Path(path)
    if p.suffix.lower() in ZARR_SUFFIXES:
        return True
    return p.is_dir() and any((p / marker).is_file() for marker in ZARR_MARKERS)


def wrong_output_kind(path: str | os.PathLike, store: bool | None = None) -> str | None:
    """Why ``path`` cannot be replaced by an output (a folder for a file, ...), or None.

    A TIFF output is a file; a Zarr output (``store``; by default a ``.zarr`` name) a folder
    (a store, replaced whole): a folder that is not a store is not replaced, whatever it
    holds, with or without ``--overwrite`` (``predict -o`` and ``slide -o`` alike: before,
    ``slide --overwrite`` deleted such a folder and the user's files in it).
    """
    path = Path(path)
    if not (path.suffix.lower() in ZARR_SUFFIXES if store is None else store):
        return "it is a folder; move it or choose another -o" if path.is_dir() else None
    if path.exists() and not path.is_dir():
        return "it is a file, and the Zarr store is a folder; move it or choose another -o"
    if path.is_dir() and any(path.iterdir()):
        if not any((path / marker).exists() for marker in ZARR_MARKERS):
            return "it is a folder that is not a Zarr store; move it or choose another -o"
    return None


def read_image(path: str | os.PathLike, lazy: bool = False, labels: bool = False):
    """Read an image file or Zarr store.

    Parameters
    ----------
    path : path-like
        A ``.tif``/``.tiff``, ``.png``/``.jpg``/``.bmp`` file or a ``.zarr`` store.
    lazy : bool
        Return a dask array (TIFF and Zarr only) instead of loading into memory.
        Zarr stores are always read lazily.
    labels : bool
        The file holds labels: a palette PNG gives its indices (the ids). An image's
        palette PNG gives the colours it shows (grey when the palette is grey), and a grey
        PNG with alpha its grey: before, the indices were read as intensities, and the alpha
        averaged into the image.

    Returns
    -------
    numpy.ndarray or dask.array.Array
        The pixel data, channels last: PNG images keep them there (an image's alpha channel
        is dropped, a label image's when it is fully opaque), and the channel axis a TIFF
        records, or an OME-Zarr image names, is moved there (:func:`.layout.channels_last`:
        an ImageJ or OME-TIFF ``CYX`` is read as ``(Y, X, C)``). An OME-Zarr image gives its
        full-resolution level.

    Raises
    ------
    InputError
        If the file does not exist or its format is not supported.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file or folder")
    suffix = p.suffix.lower()
    if is_zarr(p):
        from napari_unet.core.images.omezarr import open_image

        return open_image(p).data  # a Zarr array, or an OME-Zarr image's full resolution
    if p.is_dir():
        raise InputError(f"{p} is a folder, not an image file")
    if p.stat().st_size == 0:
        raise InputError(f"{p}: the file is empty")
    if suffix in TIFF_SUFFIXES:
        return _read_tiff(p, lazy)
    if suffix in PIL_SUFFIXES:
        return _read_pil(p, labels)
    raise InputError(
        f"{p}: unsupported image format {suffix or '(no suffix)'}; "
        f"expected one of {', '.join(IMAGE_SUFFIXES)}"
    )


def _check_size(p: Path, shape, dtype) -> None:
    """Refuse, before allocating, an image larger than the memory that is available."""
    from napari_unet.core.files import available_memory

    nbytes = int(np.prod([int(s) for s in shape], dtype=np.float64)) * np.dtype(dtype).itemsize
    free = available_memory()
    if nbytes > 0.5 * free:  # prediction needs several times the image itself
        raise InputError(
            f"{p}: the file declares a {'x'.join(str(int(s)) for s in shape)} {np.dtype(dtype)} "
            f"image ({nbytes / 2**30:.1f} GiB), more than the {free / 2**30:.1f} GiB of memory "
            "available; convert it to a Zarr store (read lazily) or crop it"
        )


def _read_tiff(p: Path, lazy: bool):
    # Any decoder failure of an untrusted file is a bad file: tifffile raises many types.
    import tifffile

    try:
        with tifffile.TiffFile(p) as tf:
            index = _image_series(p, tf.series)
            series = tf.series[index]
            _check_codecs(p, series.pages)
            check_whole(p, tf, series)  # planes or bytes missing: cut short, companions gone
            _check_planes(p, series.axes)
            if lazy:
                import zarr

                store = zarr.open(tf.aszarr(series=index, level=0), mode="r")  # a pyramid's
                return channels_last(*_without_alpha(lazy_array(p, store), series))
            _check_size(p, series.shape, series.dtype)
            return channels_last(*_without_alpha(tf.asarray(series=index), series))
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - see the comment above
        if "imagecodecs" in str(exc) or isinstance(exc, ImportError):  # a missing codec
            raise InputError(
                f"{p}: decoding the file needs a codec that is missing "
                f"({type(exc).__name__}: {exc}); {_INSTALL_CODECS}"
            ) from None
        raise InputError(f"{p}: not a readable TIFF file ({type(exc).__name__}: {exc})") from None


def _without_alpha(data, series):
    """``data`` without the samples the file marks as alpha, and its axes (as tifffile's).

    ExtraSamples after the colours: associated (1) or unassociated (2) alpha, unspecified
    (0, kept); before, averaged into the image. Only interleaved samples (``S`` last).
    """
    extra, axes = tuple(getattr(series.keyframe, "extrasamples", ()) or ()), series.axes
    n = int(data.shape[-1]) if data.ndim == len(axes) and axes.upper().endswith("S") else 0
    alpha = [n - len(extra) + k for k, v in enumerate(extra) if int(v) in (1, 2)]
    keep = [k for k in range(n) if k not in alpha]
    if not n or not alpha or not keep:
        return data, axes
    return (data[..., keep[0]], axes[:-1]) if len(keep) == 1 else (data[..., keep], axes)


_INSTALL_CODECS = (
    "install the 'imagecodecs' package with `pip install imagecodecs` (a dependency of "
    "napari-unet: an install without it is incomplete)"
)


def _check_codecs(p: Path, pages) -> None:
    """Refuse, naming the package to install, a TIFF whose compression needs a missing codec.

    tifffile decodes LZW, JPEG, JPEG 2000, WebP and other compressions (and the floating-point
    predictor) only through the ``imagecodecs`` package; without it such a file was refused
    as "not a readable TIFF file", and a lazily read one failed only when computed.
    """
    import tifffile

    for key in {page.keyframe for page in pages if page is not None}:
        checks = (
            ("compression", tifffile.TIFF.DECOMPRESSORS, key.compression),
            ("predictor", tifffile.TIFF.UNPREDICTORS, getattr(key, "predictor", 1)),
        )
        for what, codecs, value in checks:
            try:
                codecs[value]
            except KeyError as exc:
                if "imagecodecs" in str(exc):
                    name = getattr(value, "name", value)
                    raise InputError(
                        f"{p}: reading the file's {what} ({name}) needs the 'imagecodecs' "
                        f"package, which is missing: {_INSTALL_CODECS}"
                    ) from None  # other unknown codecs: tifffile's own message, below


def _check_planes(p: Path, axes: str) -> None:
    """Refuse a file that records two plane axes and no channel (ImageJ/OME ``TZYX``).

    Stacks have one plane axis; a fourth axis is read as channels, and guessing would
    average a time-lapse's z-planes as if they were channels.
    """
    planes = [a for a in axes.upper()[:-2] if a not in "CSQ"]
    if len(planes) > 1 and not set(axes.upper()) & set("CSQ"):
        raise InputError(
            f"{p}: the file records axes {axes} (two plane axes and no channel); napari-unet "
            "segments one stack of planes at a time: save each time point to its own file"
        )


#: Pillow modes read as they are: grey (1, L, I, F and 16-bit I;16...), palette, RGB(A) and
#: grey with alpha. Any other colour mode is converted to the RGB it shows (below).
_AS_STORED = ("1", "L", "I", "F", "P", "PA", "LA", "La", "RGB", "RGBA")


def _as_rgb(im):
    """A colour image whose bands are not R, G, B (CMYK, YCbCr, LAB, HSV...) as RGB.

    Before, a CMYK JPEG (an image saved for print) was read as its C, M, Y planes, the
    colours inverted, with the K plane dropped as if it were alpha; a YCbCr, LAB or HSV image
    as its raw bands. Premultiplied RGBa becomes RGBA, RGBX (padding) RGB.
    """
    if im.mode in _AS_STORED or im.mode.startswith("I;16"):
        return im
    return im.convert("RGBA" if im.mode == "RGBa" else "RGB")


def _shown(im):
    """A palette image as the colours it shows (grey if they are), grey+alpha as grey."""
    if im.mode in ("LA", "La"):
        return im.getchannel(0)
    if im.mode not in ("P", "PA"):
        return im
    rgb = im.convert("RGB")
    arr = np.asarray(rgb)
    grey = bool((arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all())
    return im.convert("L") if grey else rgb


def _label_band(p: Path, im):
    """A label image's grey or palette band when it has alpha (LA, La, PA), else ``im``.

    Labels are one value per pixel: a fully opaque alpha is dropped (as an RGBA label
    image's is); a varying one is refused, since which pixels hold labels would be a guess.
    Before, the alpha came back as a second band and a 2D label image was measured as a stack.
    """
    if im.mode not in ("LA", "La", "PA"):
        return _as_rgb(im)
    alpha = np.asarray(im.getchannel(im.mode[-1]))
    if alpha.size and not np.all(alpha == alpha.max()):
        raise InputError(
            f"{p}: a label image with transparency that varies (mode {im.mode}); labels are one "
            "value per pixel: save it without its alpha channel (transparency)"
        )
    return im.getchannel(0)


def _read_pil(p: Path, labels: bool = False) -> np.ndarray:
    from PIL import Image

    with open(p, "rb") as f:  # Pillow decodes 16-bit colour PNGs to 8 bits: refuse them
        head = f.read(26)
    depth_and_colour = head[24:26] if head[:8] == b"\x89PNG\r\n\x1a\n" else b""
    if depth_and_colour in (b"\x10\x02", b"\x10\x04", b"\x10\x06"):  # 16 bits; RGB, LA, RGBA
        what = "grey PNG with alpha (transparency)" if depth_and_colour[1] == 4 else "colour PNG"
        raise InputError(
            f"{p}: a 16-bit {what}, which can only be read at 8 bits here; save it as a "
            "TIFF (or as 16-bit grey PNG, without alpha) to keep its full depth"
        )
    try:
        with Image.open(p) as im:
            bands = len(im.getbands())
            dtype = np.uint16 if im.mode.startswith("I;16") else np.uint8
            _check_size(p, (im.height, im.width, bands), dtype)
            shown = _label_band(p, im) if labels else _shown(_as_rgb(im))
            mode, arr = shown.mode, np.asarray(shown)
    except InputError:
        raise
    except Image.DecompressionBombError as exc:
        raise InputError(f"{p}: refused, the image is too large to decode safely ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - decoders of untrusted files raise many types
        raise InputError(f"{p}: not a readable image file ({type(exc).__name__}: {exc})") from None
    # An RGBA image's alpha is transparency, never image content: dropped from an image
    # whatever it holds (an array's only when opaque, layout.is_alpha); from labels when
    # fully opaque. Only RGBA has a fourth band here: other 4-band modes (CMYK) become RGB.
    if arr.ndim == 3 and arr.shape[-1] == 4 and mode == "RGBA":
        if not labels or np.all(arr[..., 3] == arr[..., 3].max()):
            arr = arr[..., :3]
    return arr


def check_writable(path: str | os.PathLike, data) -> None:
    """Refuse, before anything is written, an array that the format of ``path`` cannot hold.

    PNG holds 2D uint8 or uint16 images and 8-bit RGB(A) of one alpha value (read, an alpha
    is dropped), of at least one pixel (before, an empty one raised PIL's ValueError); TIFF
    and Zarr hold any array. Any other suffix (or none) is refused here too: before,
    ``weights`` wrote its map before its ``--target`` was refused, and the rerun with a good
    name met the map ("exists; pass --overwrite").
    """
    suffix = Path(path).suffix.lower()
    if suffix not in TIFF_SUFFIXES + ZARR_SUFFIXES + (".png",):
        raise InputError(_unwritable(path, suffix))
    if suffix != ".png":
        return
    shape = np.shape(data)
    if 0 in shape[:2]:
        raise InputError(
            f"{path}: the image is empty (shape {shape}); PNG holds at least one pixel"
        )
    dtype = np.dtype(data.dtype if hasattr(data, "dtype") else np.asarray(data).dtype)
    grey = len(shape) == 2 and dtype in (np.uint8, np.uint16)
    if not (grey or (len(shape) == 3 and shape[-1] in (3, 4) and dtype == np.uint8)):
        raise InputError(
            f"{path}: PNG holds 2D uint8/uint16 images (or RGB uint8); got "
            f"{'x'.join(map(str, shape))} {dtype}. Write a .tif instead."
        )
    if len(shape) == 3 and shape[-1] == 4 and np.ptp(np.asarray(data)[..., 3]) > 0:
        raise InputError(f"{path}: the fourth channel varies, but a PNG's is its alpha, dropped "
                         "when read. Write a .tif to keep four channels (or image[..., :3]).")


def write_image(path: str | os.PathLike, data, overwrite: bool = True, pixel_size=None) -> Path:
    """Write an array as TIFF, PNG or Zarr, atomically for files.

    Parameters
    ----------
    path : path-like
        Destination; the format follows the suffix (``.tif``, ``.png``, ``.zarr``).
    data : array-like
        A numpy or dask array. Dask arrays are written chunk by chunk to Zarr.
    overwrite : bool
        If False and ``path`` exists, raise :class:`InputError`.
    pixel_size : float or (float, float), optional
        The pixel size ``(y, x)`` in micrometres, written to a TIFF's resolution tags
        (read back by :func:`.pixels.read_pixel_size`); PNG and Zarr outputs ignore it.

    Returns
    -------
    pathlib.Path
        The written path.

    Raises
    ------
    InputError
        ``path`` exists and ``overwrite`` is False; ``data`` has fewer than 2 axes; a format
        that cannot hold ``data`` (PNG) or an unknown suffix.
    """
    p = Path(path)
    if p.exists() and not overwrite:
        raise InputError(f"{p} exists; refusing to overwrite it")
    if np.ndim(data) < 2:  # before: an IndexError from inside tifffile for a number
        raise InputError(f"{p}: an image has at least 2 axes (Y, X); got shape {np.shape(data)}")
    suffix = p.suffix.lower()
    if suffix in ZARR_SUFFIXES:
        import dask.array as da

        arr = data if isinstance(data, da.Array) else da.from_array(np.asarray(data))
        with atomic_folder(p, overwrite=overwrite) as tmp:  # nor one written meanwhile
            arr.to_zarr(str(tmp), overwrite=True)
        return p
    arr = np.asarray(data)
    if suffix in TIFF_SUFFIXES:
        import tifffile

        # Only 8-bit (H, W, 3|4) arrays are colour; everything else (stacks, probabilities,
        # labels) is stored as grey planes, so a (Z, H, 3) stack is not mistaken for RGB. A
        # fourth sample is not marked alpha (read back, it is judged as an array's is).
        rgb = arr.ndim == 3 and arr.shape[-1] in (3, 4) and arr.dtype == np.uint8
        extra = {"extrasamples": ["unspecified"]} if rgb and arr.shape[-1] == 4 else {}
        with atomic_write(p) as tmp:
            tifffile.imwrite(tmp, arr, compression="zlib",
                             photometric="rgb" if rgb else "minisblack", **extra,
                             **resolution_tags(pixel_size))  # fmt: skip
        return p
    if suffix == ".png":
        from PIL import Image

        check_writable(p, arr)
        with atomic_write(p) as tmp:
            Image.fromarray(arr).save(tmp, format="PNG")
        return p
    raise InputError(_unwritable(p, suffix))


def _unwritable(path, suffix: str) -> str:
    return f"{path}: cannot write format {suffix or '(no suffix)'}; use .tif, .png or .zarr"
