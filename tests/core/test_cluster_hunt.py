"""Scheduler connections that went wrong (a hunt): each is now one clear InputError.

Before: a port that greets first (sshd) made ``Client`` raise numpy's MemoryError ("Unable
to allocate 3.07 EiB": the greeting read as a frame length); a port that answers nothing
(the dashboard's HTTP port) and a scheduler without workers hung the run for good; a closed
Client raised dask's ClosedClientError.
"""

from __future__ import annotations

import contextlib
import socket
import threading

import pytest

from napari_unet.core.errors import InputError

distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")


@contextlib.contextmanager
def _server(greeting: bytes | None):
    """A local TCP server on a free port; it sends ``greeting`` first (None: nothing)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    held = []

    def serve():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            held.append(conn)
            if greeting:
                with contextlib.suppress(OSError):
                    conn.sendall(greeting)

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"tcp://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()
        for conn in held:
            conn.close()


def _first(scheduler, wait: float = 20.0):
    """``next(iter_tasks(...))`` in a thread: what it raised, or a failure if it hung."""
    from napari_unet.core.inference.chunked import iter_tasks

    got = {}

    def work():
        try:
            got["value"] = next(iter_tasks([dask.delayed(int)(1)], scheduler))
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            got["error"] = exc

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(wait)
    if thread.is_alive():
        pytest.fail(f"iter_tasks still waiting after {wait} s")
    return got.get("error")


@pytest.fixture
def short_worker_wait(monkeypatch):
    with contextlib.suppress(ImportError):
        from napari_unet.core.inference import cluster

        monkeypatch.setattr(cluster, "WORKER_WAIT_S", 0.5)


def test_a_port_that_greets_first_is_not_a_scheduler():
    with _server(b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13\r\n") as address:
        error = _first(address)
    assert isinstance(error, InputError), repr(error)
    text = str(error)
    assert address in text and "did not answer as a dask scheduler" in text
    assert "8786" in text and "8787" in text  # the scheduler's port, not the dashboard's
    assert error.__context__ is None  # nothing keeps a half-built Client alive


def test_a_port_that_answers_nothing_fails_after_the_connect_timeout():
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}), _server(None) as address:
        error = _first(address)
    assert isinstance(error, InputError), repr(error)
    assert address in str(error) and "no answer within 1 s" in str(error)


def test_a_scheduler_without_workers_is_refused(short_worker_wait):
    with distributed.LocalCluster(n_workers=0, processes=False, dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        error = _first(address)
        assert isinstance(error, InputError), repr(error)
        assert f"the scheduler at {address} has no workers" in str(error)
        assert f"dask worker {address}" in str(error)
        with distributed.Client(cluster, set_as_default=False) as client:  # a Client given
            error = _first(client)
        assert isinstance(error, InputError), repr(error)
        assert "has no workers" in str(error)


def test_a_closed_client_is_refused():
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        client = distributed.Client(cluster, set_as_default=False)
        client.close()
        error = _first(client)
    assert isinstance(error, InputError), repr(error)
    assert "the dask Client given is closed" in str(error)


def test_a_cluster_with_a_worker_still_runs_the_tasks(short_worker_wait):
    from napari_unet.core.inference.chunked import iter_tasks

    tasks = [dask.delayed(lambda k=k: k * 3)() for k in range(3)]
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        got = dict(iter_tasks(tasks, cluster.scheduler_address))
    assert got == {0: 0, 1: 3, 2: 6}
