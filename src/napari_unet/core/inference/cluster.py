"""Running dask tasks here or on a ``dask.distributed`` cluster (:func:`iter_tasks`).

The connection to a scheduler address is checked before any ``Client`` exists: a malformed
address (:func:`check_scheduler`, which callers also run before any other work), a port
out of range, a ``tls://`` address without dask's TLS settings, a port that is not a dask
scheduler's (an sshd greeting, the dashboard's HTTP port) and a closed ``Client`` are each
one :class:`~napari_unet.core.errors.InputError` naming the address, raised at once or
after a bounded wait, never a hang, a traceback or dask's own allocation error. A scheduler
without workers gets the tasks all the same (an adaptive cluster starts its workers only
then) and, while none has come after :data:`WORKER_WAIT_S`, one RuntimeWarning saying how
to start one; the run keeps waiting. Used by
:mod:`~napari_unet.core.inference.chunked` and :mod:`~napari_unet.core.inference.slide`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Generator

from napari_unet.core.errors import InputError, in_words

__all__ = ["check_scheduler", "iter_tasks"]

#: Seconds without a worker (and no task finished) before the warning that none has come.
WORKER_WAIT_S = 60.0
#: Beyond dask's connect timeout: an address that answers nothing is "not a scheduler".
_ANSWER_GRACE_S = 2.0


def iter_tasks(tasks: list, scheduler=None) -> Generator[tuple[int, object], None, None]:
    """Run dask ``tasks`` (delayed objects); yield ``(index, result)`` as each one finishes.

    ``scheduler``: None runs them in this process, one after another (memory: one task at a
    time); a ``dask.distributed`` scheduler address (``"tcp://host:8786"``) or a
    ``distributed.Client`` runs them on that cluster, in parallel, once it has a worker
    (the tasks are submitted first: an adaptive cluster starts workers only then; after
    :data:`WORKER_WAIT_S` seconds still without one, a RuntimeWarning says so and how to
    start one, and the run keeps waiting: Ctrl-C stops it).
    """
    import dask

    if not scheduler:
        for index, task in enumerate(tasks):
            yield index, dask.compute(task, scheduler="synchronous")[0]
        return
    _need_distributed()
    from distributed import as_completed

    if isinstance(scheduler, str):
        with _connect(scheduler) as client:
            yield from iter_tasks(tasks, client)
        return
    _check_client(scheduler)
    futures = scheduler.compute(tasks)
    order = {id(f): i for i, f in enumerate(futures)}
    done = 0
    try:
        _warn_without_workers(scheduler, futures)
        for fut in as_completed(futures, loop=scheduler.loop):  # its own client, default or not
            yield order[id(fut)], fut.result()
            fut.release()
            done += 1
    finally:
        if done < len(futures):  # stopped (closed, Ctrl-C) or failed: tasks may be running
            _cancel_and_wait(scheduler, futures)


def check_scheduler(scheduler) -> None:
    """Refuse a malformed scheduler address at once (no network): call it before any work.

    ``scheduler`` as for :func:`iter_tasks`: None (or empty) and a ``Client`` pass. Before,
    the address was first checked when the tasks were sent, after the model had loaded and
    the whole slide had been read for its statistics.
    """
    if scheduler and isinstance(scheduler, str):
        _need_distributed()
        _check_address(scheduler)


def _need_distributed() -> None:
    try:
        import distributed  # noqa: F401
    except ImportError as exc:
        raise InputError(
            "a scheduler address needs dask.distributed: pip install distributed"
        ) from exc


def _connect(address: str):
    """A ``distributed.Client`` of the scheduler at ``address``, checked before it is made.

    Not the process's default: the tasks go to it explicitly, and a run stopped midway (its
    generator left open) must not leave every later dask computation of the process waiting
    on a cluster that may be gone. Before, a port that greets first (sshd) made ``Client``
    raise MemoryError (the greeting read as a frame length), and the dashboard's port hung
    it for good (dask reads the handshake without a timeout).
    """
    import dask
    from dask.utils import parse_timedelta
    from distributed import Client

    _check_address(address)  # before any Client: a malformed one never exists
    timeout = parse_timedelta(dask.config.get("distributed.comm.timeouts.connect"), "s")
    _probe(address, timeout)  # a port that is not a scheduler's: no Client either
    problem = None
    try:
        client = Client(address, set_as_default=False, timeout=timeout)
    except OSError:  # unreachable, refused, timed out: dask's own words, as before
        raise
    except Exception as exc:  # noqa: BLE001 - one error line (before: a traceback)
        if "TLS" in str(exc):
            problem = _bad_address(address, _TLS)
        elif isinstance(exc, ValueError | MemoryError):  # another address dask cannot use
            problem = _bad_address(address, str(exc) or type(exc).__name__)
        else:  # not the address's fault: said as it is, without the address advice
            problem = f"scheduler {address!r}: dask could not connect: {in_words(exc)}"
    if problem is not None:  # raised here, not in the except: see _check_address
        raise InputError(problem)
    return client


def _bad_address(address: str, problem: str) -> str:
    then = "set them, or give" if problem == _TLS else "give"
    return f"scheduler {address!r}: {problem}; {then} an address such as tcp://host:8786"


#: Why a ``tls://`` address cannot be used: dask's TLS settings are missing.
_TLS = (
    "a TLS scheduler needs dask's TLS settings (distributed.comm.tls.ca-file, "
    "distributed.comm.tls.client.cert and .key, in dask's configuration or as "
    "DASK_DISTRIBUTED__COMM__TLS__* variables)"
)


def _check_address(address: str) -> None:
    """Refuse a malformed scheduler address before any Client.

    No port, a port out of range (before: dask waited its whole connect timeout), an unknown
    scheme, a ``tls://`` address without dask's TLS settings (before: a TypeError traceback).

    Before, ``Client("localhost")`` raised in its own ``__init__``: the half-built Client
    stayed referenced by the error's traceback (the context of the InputError raised
    from it), and at exit its ``__del__`` waited 60 s and printed a TimeoutError. The
    error is now raised outside any ``except`` block, so it carries no such context.
    """
    from distributed.comm import parse_address, parse_host_port
    from distributed.comm.registry import get_backend

    problem = None
    try:
        scheme, location = parse_address(address)
        get_backend(scheme)  # "unknown address scheme 'foo'"
        if scheme != "inproc":  # in-process addresses have no port
            _, port = parse_host_port(location)  # "missing port number in address 'x'"
            if not 0 < port < 65536:
                problem = f"port {port} is not a TCP port (1-65535)"
        if problem is None and scheme == "tls" and not _has_tls_settings():
            problem = _TLS
    except (ValueError, TypeError) as exc:
        problem = str(exc)
    if problem is not None:
        raise InputError(_bad_address(address, problem))


def _has_tls_settings() -> bool:
    """Whether a ``Client`` of a ``tls://`` address gets an SSL context from dask's settings."""
    import dask
    from distributed.security import Security

    if dask.config.get("distributed.client.security-loader", None):
        return True  # the loader gives the context: left to Client
    try:
        return Security().get_connection_args("client").get("ssl_context") is not None
    except Exception:  # noqa: BLE001 - a setting naming a missing file: Client says which
        return True


def _probe(address: str, timeout: float) -> None:
    """Refuse a tcp ``address`` that does not answer as a dask scheduler within ``timeout`` s.

    A port nothing listens on (refused) or that cannot be reached is left to ``Client``,
    which raises dask's own OSError after its connect timeout, as before. A port that
    accepts gets one dask connection (its handshake) and an ``identity`` request, in a
    thread of its own with its own event loop (the caller's may be running, as in Jupyter;
    a daemon thread, so that a process stopped meanwhile exits at once).
    """
    import socket

    from distributed.comm import parse_address, parse_host_port

    scheme, location = parse_address(address)
    if scheme != "tcp":  # tls needs the caller's security; inproc is this process
        return
    try:
        with socket.create_connection(parse_host_port(location), timeout=min(timeout, 5.0)):
            pass
    except OSError:
        return
    found: dict = {}
    thread = threading.Thread(
        target=_run_probe, args=(address, timeout, found), daemon=True, name="napari-unet-probe"
    )
    thread.start()
    thread.join()
    what = found.get("problem")
    if what is not None:
        raise InputError(
            f"the scheduler address {address!r} did not answer as a dask scheduler ({what}); "
            "give the port the scheduler listens on (8786 unless started with --port; "
            "8787 is its dashboard's)"
        )


def _run_probe(address: str, timeout: float, found: dict) -> None:
    import asyncio

    from distributed.comm.core import CommClosedError

    try:
        kind = asyncio.run(asyncio.wait_for(_identity(address, timeout), timeout + _ANSWER_GRACE_S))
        if kind != "Scheduler":
            found["problem"] = f"it is a dask {kind}, not a scheduler"
    except asyncio.TimeoutError:
        found["problem"] = f"no answer within {timeout:g} s"
    except MemoryError:  # a greeting (sshd, SMTP) read as a frame length
        found["problem"] = "it sent something else first, as an ssh server does"
    except CommClosedError:  # the port was reached: it hung up
        found["problem"] = "it closed the connection"
    except OSError:  # gone meanwhile: Client says so, in dask's words
        pass
    except Exception as exc:  # noqa: BLE001 - bytes dask could not decode
        found["problem"] = f"{type(exc).__name__}: {exc}"[:200]


async def _identity(address: str, timeout: float) -> str:
    """The ``type`` the server at ``address`` says it is (``"Scheduler"``)."""
    from distributed.comm import connect

    comm = await connect(address, timeout=timeout)
    try:
        await comm.write({"op": "identity", "reply": True})
        info = await comm.read()
    finally:
        await comm.close()
    return str(info.get("type")) if isinstance(info, dict) else "server of another kind"


def _check_client(client) -> None:
    """Refuse a closed ``client`` (before, dask's ClosedClientError)."""
    if getattr(client, "status", None) in ("closed", "closing"):
        raise InputError(
            "the dask Client given is closed; give an open one, or the scheduler's address"
        )


def _warn_without_workers(client, futures) -> None:
    """Wait for a task's end, at most :data:`WORKER_WAIT_S`; warn once if still no worker.

    It returns then either way: the caller keeps waiting on the tasks.

    Before, a scheduler without workers kept the run waiting forever, silently. It is not
    refused: an adaptive cluster (``adapt(minimum=0)``, dask-jobqueue's usual pattern)
    starts workers only once tasks arrive, and a batch queue may hold its jobs a while.
    """
    import time
    import warnings

    end = time.monotonic() + WORKER_WAIT_S
    while futures and not any(f.done() for f in futures):
        if time.monotonic() >= end:
            if not _has_workers(client):
                address = getattr(client.scheduler, "address", None) or "ADDRESS"
                # Shown at every run: a plain warn() is printed once per process for the
                # same text and line, and a second run on a cluster whose workers left
                # since waited silently again. registry=None keeps no such record.
                warnings.warn_explicit(
                    f"the scheduler at {address} has had no workers for {WORKER_WAIT_S:g} s: "
                    f"start one with `dask worker {address}` (still waiting; Ctrl-C stops)",
                    RuntimeWarning,
                    __file__,
                    _warn_without_workers.__code__.co_firstlineno,
                    registry=None,
                )
            return
        time.sleep(0.1)


def _has_workers(client) -> bool:
    try:
        return bool(client.nthreads())
    except Exception:  # noqa: BLE001 - a cluster gone meanwhile: as_completed says so
        return True


#: Longest wait for a stopped run's running tasks to end before its stores are removed.
CANCEL_WAIT_S = 600.0


def _cancel_and_wait(client, futures, timeout: float = CANCEL_WAIT_S) -> None:
    """Cancel ``futures`` and return once no worker holds one of their tasks any more.

    A running task cannot be interrupted: cancelled, it runs to its end and writes its block.
    Before, the caller's clean-up removed the stores while a worker was still in a task, and
    the task's write (Zarr makes missing folders) put the scratch back into the image. A
    worker forgets a cancelled task when it has ended, so this waits for that (at most
    ``timeout`` seconds: a worker that hangs does not hold the run for good).
    """
    import time

    keys = [f.key for f in futures]
    with contextlib.suppress(Exception):  # a cluster already gone: nothing runs
        client.cancel(futures)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            held = client.run(_held_tasks, keys)
        except Exception:  # noqa: BLE001 - a cluster already gone: nothing runs any more
            return
        if not any(held.values()):
            return
        time.sleep(0.05)


def _held_tasks(keys, dask_worker=None) -> int:
    """How many of ``keys`` the worker still knows (running, or not yet forgotten)."""
    state = getattr(dask_worker, "state", dask_worker)
    tasks = getattr(state, "tasks", None) or {}
    return sum(1 for key in keys if key in tasks)
