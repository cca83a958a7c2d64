"""bioimage.io packages in the docks: the Export button, and packages opened as models.

The Predict and Train docks each have an "Export to bioimage.io..." button
(:class:`Exporter`). It asks for a ``.zip`` path (:func:`~napari_unet.widgets._saving.ask_path`;
never the package the model was opened from), then a napari thread worker
(:func:`export_job`) writes the dock's model with
:func:`~napari_unet.core.exchange.export.export_bioimageio` and tests the package with
:func:`~napari_unet.core.exchange.export.check_package` (bioimageio.core's ``test_model``,
the checks of the ``bioimageio test`` command); the dock's status line says what is being
done, then the result (closing napari finishes it: :meth:`Exporter.shutdown`). Without the
bioimageio extra the button says which extra to install before it asks for anything. The
Predict dock opens a package napari-unet exported like a model file
(:func:`load_model_file`); it runs other tools' 2D packages through bioimageio.core
(:func:`load_predict_model`), which the Live and Review docks refuse.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Generator
from pathlib import Path

from napari_unet.core.errors import InputError, in_words
from napari_unet.core.exchange.identity import is_package_file, read_rdf  # (no torch)

__all__ = [
    "PACKAGE_FILTER",
    "Exporter",
    "export_job",
    "is_package",
    "load_model_file",
    "load_predict_model",
    "missing_extra",
    "result_text",
]

#: File-dialog filter of a bioimage.io model package.
PACKAGE_FILTER = "bioimage.io model package (*.zip)"
#: The button's text in both docks.
BUTTON_TEXT = "Export to bioimage.io..."
CLOSING_WAIT = 60.0  #: s napari's closing waits for an export (a begun test ends with it)


def missing_extra() -> str | None:
    """What to install when bioimageio.core or bioimageio.spec is missing, else None.

    The packages are only looked up, not imported: importing bioimageio.core takes over a
    second, and this runs on the GUI thread before the save dialog opens.
    """
    import importlib.util

    from napari_unet.core.exchange.spec import EXTRA_HINT

    for name in ("bioimageio.spec", "bioimageio.core"):
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a missing parent package, or a broken entry
            found = False
        if not found:
            return (
                f"exporting to bioimage.io needs the bioimageio extra ({name} is not "
                f"installed); install it with: {EXTRA_HINT}"
            )
    return None


def is_package(path) -> bool:
    """Whether ``path`` names a bioimage.io package rather than a model file.

    A ``.zip`` (which may not exist yet), or an existing file whose bytes are a zip archive
    (a package renamed ``.bmz`` was read as a model file: "this is a zip archive").
    """
    if not isinstance(path, str | os.PathLike):
        return False
    return Path(path).suffix.lower() == ".zip" or is_package_file(path)


def load_model_file(path) -> tuple[object, dict]:
    """``(model, metadata)`` from a model file, or from a package napari-unet exported.

    Raises
    ------
    InputError
        For a package of another tool, or without the bioimageio extra (the importer's
        messages), or a file that is not a model file.
    """
    if is_package(path):
        from napari_unet.core.exchange.importer import import_bioimageio

        return import_bioimageio(path, device="cpu")
    from napari_unet.core.models.modelfile import load_model

    return load_model(path, device="cpu")


def load_predict_model(path, device: str = "auto") -> tuple[object, dict]:
    """:func:`load_model_file` for the Predict dock: another tool's package is run as it is.

    Returns ``(model, metadata)``; for a bioimage.io package that napari-unet did not export,
    ``model`` is a :class:`~napari_unet.core.exchange.foreign.ForeignModel` (metadata
    empty), run through bioimageio.core's prediction pipeline on ``device``; napari-unet's
    own models load on the CPU (the Predictor moves them).
    """
    if not is_package(path):
        return load_model_file(path)
    from napari_unet.core.exchange.foreign import open_bioimageio

    opened = open_bioimageio(path, device="cpu")
    if isinstance(opened, tuple):
        return opened
    opened.device = device  # read when its pipeline is first built
    return opened, {}


def model_channels(model, pending) -> int:
    """The input channels of the loaded ``model``, else of the ``pending`` model file.

    A file not read yet tells them from its header, a package from its ``rdf.yaml``
    (napari-unet's own record, else the input tensor's channel axis): a (3, H, W) image
    is then read as the channels of a 3-channel package on the first run too (before, as
    three planes until the package was opened).
    """
    if model is not None:
        plan = getattr(model, "plan", None)  # another tool's package
        return int(getattr(model, "in_channels", None) or getattr(plan, "in_channels", 1))
    if pending is None:
        return 1
    if is_package(pending):
        rdf = read_rdf(pending)  # read once for both
        config = (package_header(pending, rdf) or {}).get("config")
        channels = config.get("in_channels") if isinstance(config, dict) else None
        channels = channels if channels is not None else _input_channels(rdf)
        return channels if isinstance(channels, int) and channels > 0 else 1
    from napari_unet.core.models.modelfile import input_channels

    try:
        return input_channels(pending)
    except (InputError, OSError, ValueError, KeyError):  # the run says what is wrong
        return 1


def is_foreign(model) -> bool:
    """Whether ``model`` is another tool's package (run by bioimageio.core)."""
    from napari_unet.core.exchange.foreign import ForeignModel

    return isinstance(model, ForeignModel)


def export_job(source, output: Path, name: str, check: bool = True, stop=None) -> Generator:
    """Write ``source`` as a package at ``output`` and test it; yields status lines.

    ``source`` is what :func:`~napari_unet.core.exchange.export.export_bioimageio` takes (a
    model file, a built-in model name, a ``(network, metadata)`` pair) or a package, which
    is imported first, its name, authors and licence kept (``identity_of``, as the
    ``export`` command does). ``name``, the dock's, names the package only when the model
    records none. An ``output`` that is the source file is refused. ``stop`` (an Event) set
    before the test: not tested (napari closing). Returns a dict: ``path``, ``megabytes``,
    ``seconds``, ``passed`` (None when not tested) and ``lines`` (the test's checks).
    """
    from napari_unet.core.exchange.export import check_package, export_bioimageio
    from napari_unet.core.exchange.identity import identity_of, package_name
    from napari_unet.core.files import check_outputs

    start = time.perf_counter()
    if isinstance(source, os.PathLike):  # a file; imported below, when it is a package
        check_outputs([output], [source])
    identity = {}
    if is_package(source):
        yield f"Exporting: reading {Path(source).name}..."
        identity.update(identity_of(source))
        source = load_model_file(source)
    if "name" not in identity and not _records_name(source):  # the dock's name: a fallback
        identity["name"] = package_name(None, name)
    yield f"Exporting: writing {output.name} (weights, TorchScript, ONNX, test tensors)..."
    path = export_bioimageio(source, output, **identity)
    out = {"path": path, "megabytes": path.stat().st_size / 1e6, "passed": None, "lines": []}
    if check:
        yield f"Exporting: testing {output.name} with bioimageio.core (bioimageio test)..."
        if stop is None or not stop.is_set():  # napari closing: written, not tested
            out["passed"], out["lines"] = check_package(path)
    out["seconds"] = time.perf_counter() - start
    return out


def _records_name(source) -> bool:
    """Whether the model ``source`` records its own name (a built-in model does)."""
    from napari_unet.core.models.modelfile import read_metadata
    from napari_unet.core.models.pretrained import is_pretrained_name

    if isinstance(source, tuple):
        metadata = source[1] if len(source) == 2 else None
    elif isinstance(source, str) and is_pretrained_name(source):
        return True
    elif isinstance(source, str | os.PathLike):
        try:
            metadata = read_metadata(source)
        except (InputError, OSError):  # the export says what is wrong
            return False
    else:
        return False
    return isinstance(metadata, dict) and bool(metadata.get("name"))


def result_text(out: dict) -> str:
    """``exported NAME.zip (1.2 MB, 4 s): passed bioimageio test`` (or what failed)."""
    head = f"exported {out['path'].name} ({out['megabytes']:.1f} MB, {out['seconds']:.0f} s)"
    if out["passed"] is None:
        return f"{head} to {out['path'].parent}"
    if out["passed"]:
        return f"{head}: passed bioimageio test"
    failed = [line for line in out["lines"] if line.startswith("failed")][:2]
    return f"{head}: FAILED bioimageio test: " + "; ".join(failed or out["lines"][-1:])


def package_path(path: Path) -> Path:
    """``path`` ending in ``.zip`` (added when missing)."""
    path = Path(path)
    return path if path.suffix.lower() == ".zip" else path.with_name(path.name + ".zip")


class Exporter:
    """A dock's "Export to bioimage.io..." button and its runs (one at a time).

    ``parent`` is the dock's widget (the save dialog's parent), ``status`` its status line;
    ``source()`` returns ``(model, name, suggested path)`` of the dock's current model (read
    on the GUI thread; ``model``: anything :func:`export_job` takes), or raises InputError.
    The dock sets :attr:`enabled`: an export's end gives the button the dock's state then
    (before, the one of its start: Export came back on in a Train dock's run). A dock removed
    meanwhile is left alone (before, its deleted widgets raised in every later signal).
    """

    def __init__(self, parent, status, source: Callable[[], tuple]) -> None:
        from magicgui.widgets import PushButton

        from napari_unet.core.options import describe
        from napari_unet.widgets._layers import CloseWatcher

        self._parent, self._status, self._source = parent, status, source
        self.button = PushButton(text=BUTTON_TEXT)
        self.button.tooltip = describe("export_package")
        self.button.changed.connect(lambda _=None: self.run())
        self.worker = self._job = None  # the worker, and the job (generator) it runs
        self.result: dict | None = None
        self._enabled, self._closing = True, False
        self._stop, self._done = threading.Event(), threading.Event()
        self._exit_watcher = CloseWatcher(self.shutdown, confirmed=True)

    def _set_enabled(self, value: bool) -> None:
        self._enabled = bool(value)
        if self.worker is None:  # an export under way keeps the button off
            self.button.enabled = self._enabled

    #: Whether the dock lets its model be exported (the button's state between exports).
    enabled = property(lambda self: self._enabled, _set_enabled)

    def run(self, path: Path | None = None):
        """Ask for the package's path (unless given) and export in a worker; the worker."""
        from napari.qt.threading import create_worker
        from qtpy.QtWidgets import QMainWindow

        from napari_unet.widgets import _layers, _saving
        from napari_unet.widgets._weakly import weakly
        from napari_unet.widgets._worker_errors import drive, surfaced

        if self.worker is not None:
            return None
        problem = missing_extra()
        try:
            if problem:
                raise InputError(problem)
            model, name, suggested = self._source()
        except InputError as exc:
            _layers.report_error(self._status, str(exc))
            return None
        title = "Export to bioimage.io"
        path = path or _saving.ask_path(self._parent, title, suggested, PACKAGE_FILTER)
        if path is None:
            return None
        self._enabled, self.button.enabled = self.button.enabled, False
        self._status.value = f"Exporting {name}..."
        window = self._parent  # napari's window, the dock floating or not: finish at close
        while window is not None and not isinstance(window, QMainWindow):
            window = window.parentWidget()
        if window is not None:
            window.installEventFilter(self._exit_watcher)
        self._closing = False
        self._stop.clear()
        self._done.clear()
        self._job = surfaced(_job)(model, package_path(path), name, self._stop, self._done)
        slots = {"yielded": "_on_status", "returned": "_on_returned", "errored": "_on_error"}
        connect = {signal: weakly(self, "_guarded", slot) for signal, slot in slots.items()}
        connect["finished"] = weakly(self, "_on_finished")  # napari keeps the worker: weakly
        self.worker = create_worker(drive, self._job, _connect=connect)
        return self.worker

    def _guarded(self, *args) -> None:
        """The slot named last in ``args``; skipped once napari closes or the dock is deleted."""
        *args, slot = args
        with contextlib.suppress(RuntimeError):  # the dock removed: deleted widgets
            return None if self._closing else getattr(self, slot)(*args)

    def _on_status(self, text: str) -> None:
        self._status.value = text

    def _on_returned(self, out: dict) -> None:
        from napari_unet.widgets import _layers

        self.result = out
        if out["passed"] is False:
            _layers.report_error(self._status, result_text(out))
        else:
            self._status.value = result_text(out)

    def _on_error(self, exc: Exception) -> None:
        from napari_unet.widgets import _layers

        _layers.report_error(self._status, f"could not export: {in_words(exc)}")

    def _on_finished(self) -> None:
        self.worker = None
        if not self._closing:
            with contextlib.suppress(RuntimeError):  # the dock removed: a deleted button
                self.button.enabled = self._enabled

    def shutdown(self, timeout: float = CLOSING_WAIT) -> bool:
        """End the export as napari closes; True when none is left running.

        Its package is written (a job napari quit is finished on this thread: ``finish_quit``),
        tested only if the test had begun; one not started writes nothing.
        """
        from napari_unet.widgets._worker_errors import finish_quit

        self._closing = True  # queued worker signals must not touch deleted widgets
        self._stop.set()
        return self.worker is None or finish_quit(self.worker, self._job, self._done, timeout)


def _job(model, path: Path, name: str, stop: threading.Event, done: threading.Event):
    """:func:`export_job`, setting ``done`` when it ends."""
    try:
        return (yield from export_job(model, path, name, stop=stop))
    finally:
        done.set()


def suggested_path(name: str, beside: Path | None = None) -> Path:
    """``NAME.zip`` beside ``beside`` (a model file), else in the home folder.

    Never ``beside`` itself (a package opened as the model): ``NAME-exported.zip`` then.
    """
    from napari_unet.core.files import same_file

    folder = beside.parent if beside is not None else Path.home()
    plain = "".join(c if c.isalnum() or c in "._-" else "_" for c in name).strip("._")
    path = folder / f"{plain or 'model'}.zip"
    if beside is not None and same_file(path, beside):
        path = folder / f"{plain or 'model'}-exported.zip"
    return path


def package_channels(path: Path) -> int | None:
    """The channels of a package's (first) input, read from its ``rdf.yaml`` (None: unknown).

    Format 0.5 names them on the input's ``channel`` axis; format 0.4 gives an axes string
    (``"bcyx"``) and a shape, fixed or ``{min, step}``.
    """
    return _input_channels(read_rdf(path))


def _input_channels(rdf: dict | None) -> int | None:
    try:
        tensor = rdf["inputs"][0]
        axes, shape = tensor["axes"], tensor.get("shape")
        if isinstance(axes, str):  # format 0.4
            sizes = shape["min"] if isinstance(shape, dict) else shape
            return int(sizes[axes.index("c")]) if "c" in axes else 1
        for axis in axes:
            if axis.get("type") == "channel":
                names = axis.get("channel_names")
                return len(names) if isinstance(names, list) else int(axis["size"])
        return 1
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        return None


def package_header(path: Path, rdf: dict | None = None) -> dict | None:
    """The model-file metadata a package napari-unet exported records, read without importing.

    Only ``rdf.yaml`` inside the zip is read (``rdf``: already read), for what the Predict
    dock shows before a run (post-processing, object size); None for anything else.
    """
    rdf = read_rdf(path) if rdf is None else rdf
    try:
        entry = rdf["config"]["napari_unet"]
    except (KeyError, TypeError):
        return None
    return entry if isinstance(entry, dict) else None
