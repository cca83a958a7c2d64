"""Scheduler addresses refused at once, in plain words (hunt 17, slide).

Before: ``--scheduler tls://host:8786`` without dask's TLS settings ended in a TypeError
traceback and a 60 s wait at exit; a port out of range (``tcp://localhost:99999``) waited
dask's whole connect timeout, then said "Timed out"; a malformed address was refused only
after the model had loaded and the whole slide had been read for its statistics.
No test here waits on the network: the connect timeout is 1 s wherever a Client could start.
"""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

from napari_unet.cli import main
from napari_unet.core.errors import InputError

distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")
zarr = pytest.importorskip("zarr")


@pytest.fixture(autouse=True)
def _short_connect_timeout():
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        yield


class _RecordingClient:
    """Stands in for ``distributed.Client``: records itself, then fails in ``__init__``."""

    built: list = []
    error: tuple = (RuntimeError, "a Client was built")  # a new one each time

    def __init__(self, *args, **kwargs):
        type(self).built.append(weakref.ref(self))
        kind, text = type(self).error
        raise kind(text)


@pytest.fixture
def recording_client(monkeypatch):
    _RecordingClient.built = []
    _RecordingClient.error = (RuntimeError, "a Client was built")
    monkeypatch.setattr(distributed, "Client", _RecordingClient)
    return _RecordingClient


def _first_task(address):
    from napari_unet.core.inference.chunked import iter_tasks

    return next(iter_tasks([dask.delayed(int)(1)], address))


def test_a_tls_address_without_tls_settings_is_one_clear_error():
    with pytest.raises(InputError) as caught:
        _first_task("tls://localhost:8786")
    text = str(caught.value)
    assert "'tls://localhost:8786'" in text and "TLS settings" in text
    assert "distributed.comm.tls" in text and "tcp://host:8786" in text
    assert caught.value.__context__ is None  # nothing keeps a half-built Client alive


def test_a_client_error_that_is_no_oserror_is_one_clear_error(recording_client, monkeypatch):
    """What dask raises for an address it cannot use (its TLS TypeError) is an InputError."""
    from napari_unet.core.inference import cluster

    monkeypatch.setattr(cluster, "_has_tls_settings", lambda: True, raising=False)
    recording_client.error = (TypeError, "TLS expects a `ssl_context` argument of type "
                              "ssl.SSLContext (perhaps check your TLS configuration?) Instead "
                              "got None")  # fmt: skip
    with pytest.raises(InputError) as caught:
        _first_task("tls://localhost:8786")
    error = caught.value  # kept, as an interactive session keeps the last error
    assert "TLS settings" in str(error) and error.__context__ is None
    gc.collect()
    assert len(recording_client.built) == 1
    assert recording_client.built[0]() is None, "the half-built Client is still alive"


@pytest.mark.parametrize("port", [0, 65536, 99999])
def test_a_port_out_of_range_is_refused_without_connecting(recording_client, port):
    address = f"tcp://localhost:{port}"
    with pytest.raises(InputError) as caught:
        _first_task(address)
    assert f"port {port} is not a TCP port (1-65535)" in str(caught.value)
    assert address in str(caught.value)
    assert recording_client.built == []


def _slide(path):
    rng = np.random.default_rng(0)
    zarr.create_array(str(path), data=(rng.random((96, 96)) * 255).astype(np.uint8),
                      chunks=(64, 64), zarr_format=2)  # fmt: skip
    return path


@pytest.fixture
def unread(monkeypatch):
    """The slide must not be opened: the address is refused first."""
    from napari_unet.core.inference import slide

    def opened(*args, **kwargs):
        pytest.fail("the slide was opened before the scheduler address was checked")

    monkeypatch.setattr(slide.omezarr, "open_image", opened)


def _untrained():
    from napari_unet.core.models import UNet

    return UNet(1, 2, base_channels=4, depth=2, padding="same").eval()


@pytest.mark.parametrize("address", ["localhost", "tcp://localhost:99999", "tls://h:8786"])
def test_segment_slide_refuses_the_address_before_reading_the_slide(tmp_path, unread, address):
    from napari_unet import segment_slide

    with pytest.raises(InputError, match="tcp://host:8786") as caught:
        segment_slide(_untrained(), _slide(tmp_path / "in.zarr"), tmp_path / "out.zarr",
                      scheduler=address, tile=64)  # fmt: skip
    assert address in str(caught.value)
    assert not (tmp_path / "out.zarr").exists()


def test_iter_segment_slide_refuses_the_address_before_reading_the_slide(tmp_path, unread):
    from napari_unet.core.inference.plan import Predictor
    from napari_unet.core.inference.postprocess import Postprocess
    from napari_unet.core.inference.slide import iter_segment_slide

    gen = iter_segment_slide(Predictor(_untrained(), tile=64), Postprocess(),
                             _slide(tmp_path / "in.zarr"), tmp_path / "out.zarr",
                             scheduler="localhost")  # fmt: skip
    with pytest.raises(InputError, match="missing port number"):
        next(gen)


@pytest.fixture
def no_model_load(monkeypatch):
    from napari_unet.cli import predict_package
    from napari_unet.core.models import modelfile

    def loaded(*args, **kwargs):
        pytest.fail("the model was loaded before the scheduler address was checked")

    monkeypatch.setattr(modelfile, "load_model", loaded)
    monkeypatch.setattr(predict_package, "load_or_run", loaded)


@pytest.mark.parametrize(
    ("address", "said"),
    [
        ("tls://localhost:8786", "needs dask's TLS settings"),
        ("tcp://localhost:99999", "port 99999 is not a TCP port (1-65535)"),
        ("localhost", "missing port number"),
    ],
)
def test_slide_refuses_the_address_before_loading_the_model(
    tmp_path, capsys, no_model_load, address, said
):
    src = _slide(tmp_path / "in.zarr")
    code = main(["slide", str(tmp_path / "m.safetensors"), str(src), "-o",
                 str(tmp_path / "out.zarr"), "--scheduler", address])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith(f"napari-unet slide: error: scheduler {address!r}: ")
    assert said in err and "Traceback" not in err
    assert not (tmp_path / "out.zarr").exists()


def test_predict_refuses_the_address_before_loading_the_model(tmp_path, capsys, no_model_load):
    from napari_unet.core.images.io import write_image

    write_image(tmp_path / "a.png", np.zeros((32, 32), np.uint8))
    code = main(["predict", "nuclei", str(tmp_path / "a.png"), "-o", str(tmp_path / "out"),
                 "--scheduler", "tls://localhost:8786"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2, err
    assert "scheduler 'tls://localhost:8786': a TLS scheduler needs" in err
    assert not (tmp_path / "out").exists()


def test_a_client_error_that_is_not_the_addresss_is_said_without_address_advice(
    recording_client, monkeypatch
):
    """An event-loop or version error of dask is said as it is: the address is not blamed."""
    recording_client.error = (RuntimeError, "version mismatch between client and scheduler")
    monkeypatch.setattr("napari_unet.core.inference.cluster._probe", lambda *a: None)
    with pytest.raises(InputError) as caught:
        _first_task("tcp://localhost:8786")
    text = str(caught.value)
    assert "dask could not connect" in text and "version mismatch" in text
    assert "give an address such as" not in text
