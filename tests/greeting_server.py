"""A local TCP server that is not a dask scheduler (the cluster connection tests)."""

from __future__ import annotations

import contextlib
import socket
import threading


@contextlib.contextmanager
def greeting_server(greeting: bytes | None):
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
