"""Scheduler connections that went wrong (a hunt): each is now one clear InputError.

Before: a port that greets first (sshd) made ``Client`` raise numpy's MemoryError ("Unable
to allocate 3.07 EiB": the greeting read as a frame length); a port that answers nothing
(the dashboard's HTTP port) and a scheduler without workers hung the run for good (it now
warns, and keeps waiting: an adaptive cluster starts workers only once tasks arrive); a
closed Client raised dask's ClosedClientError.
"""

from __future__ import annotations

import contextlib
import threading

import pytest
from greeting_server import greeting_server

from napari_unet.core.errors import InputError

distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")


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
    with greeting_server(b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13\r\n") as address:
        error = _first(address)
    assert isinstance(error, InputError), repr(error)
    text = str(error)
    assert address in text and "did not answer as a dask scheduler" in text
    assert "8786" in text and "8787" in text  # the scheduler's port, not the dashboard's
    assert error.__context__ is None  # nothing keeps a half-built Client alive


def test_a_port_that_answers_nothing_fails_after_the_connect_timeout():
    with (
        dask.config.set({"distributed.comm.timeouts.connect": "1s"}),
        greeting_server(None) as address,
    ):
        error = _first(address)
    assert isinstance(error, InputError), repr(error)
    assert address in str(error) and "no answer within 1 s" in str(error)


def _run_adding_a_worker_later(cluster, scheduler, after: float = 1.5):
    """All of ``iter_tasks``'s results, a worker added to ``cluster`` after ``after`` s."""
    from napari_unet.core.inference.chunked import iter_tasks

    tasks = [dask.delayed(lambda k=k: k * 3)() for k in range(3)]
    timer = threading.Timer(after, cluster.scale, (1,))
    timer.start()
    try:
        return dict(iter_tasks(tasks, scheduler))
    finally:
        timer.cancel()


def test_a_scheduler_without_workers_warns_and_keeps_waiting(short_worker_wait):
    """Before: refused after the wait ("has no workers"), and an adaptive cluster with it."""
    with distributed.LocalCluster(n_workers=0, processes=False, dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        with pytest.warns(RuntimeWarning) as caught:
            got = _run_adding_a_worker_later(cluster, address)
        assert got == {0: 0, 1: 3, 2: 6}
        texts = [str(w.message) for w in caught if "no workers" in str(w.message)]
        assert len(texts) == 1, texts  # once, not once per poll
        assert f"the scheduler at {address} has had no workers for 0.5 s" in texts[0]
        assert f"`dask worker {address}`" in texts[0] and "still waiting" in texts[0]


def test_a_client_without_workers_warns_and_a_worker_added_later_runs_it(short_worker_wait):
    """A ``distributed.Client`` given (the API's ``scheduler=``) waits as an address does.

    (An earlier version stopped the wait with a simulated Ctrl-C, which never reached a main
    thread blocked on a lock under pytest-xdist: the run hung.)
    """
    with (
        distributed.LocalCluster(n_workers=0, processes=False, dashboard_address=None) as cluster,
        distributed.Client(cluster, set_as_default=False) as client,
        pytest.warns(RuntimeWarning, match="has had no workers"),
    ):
        got = _run_adding_a_worker_later(cluster, client)
    assert got == {0: 0, 1: 3, 2: 6}


def test_an_adaptive_cluster_gets_its_workers_from_the_tasks(short_worker_wait):
    """``adapt(minimum=0)`` (dask-jobqueue's pattern) starts a worker once tasks arrive.

    Before: ``iter_tasks`` waited for a worker before submitting anything, so an adaptive
    cluster never started one and the run was refused ("has no workers").
    """
    import warnings

    from napari_unet.core.inference.chunked import iter_tasks

    tasks = [dask.delayed(lambda k=k: k * 2)() for k in range(3)]
    with distributed.LocalCluster(
        n_workers=0, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        cluster.adapt(minimum=0, maximum=1, interval="100ms", wait_count=1)
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)  # no "no workers" warning either
            with distributed.Client(cluster, set_as_default=False) as client:
                got = dict(iter_tasks(tasks, client))
    assert got == {0: 0, 1: 2, 2: 4}


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


def test_the_no_workers_warning_is_shown_at_every_run(short_worker_wait, monkeypatch):
    """Python prints a warning once per text and line: a second run waited silently."""
    import time
    import warnings

    shown = []
    with (
        distributed.LocalCluster(n_workers=0, processes=False, dashboard_address=None) as cluster,
        distributed.Client(cluster, set_as_default=False) as client,
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("default")  # as outside the tests
        monkeypatch.setattr(warnings, "showwarning", lambda msg, *a, **k: shown.append(str(msg)))
        for _ in range(2):
            assert _run_adding_a_worker_later(cluster, client) == {0: 0, 1: 3, 2: 6}
            cluster.scale(0)  # the workers leave (a batch job's time limit)
            deadline = time.monotonic() + 10
            while client.nthreads() and time.monotonic() < deadline:
                time.sleep(0.05)
    assert len([text for text in shown if "has had no workers" in text]) == 2
