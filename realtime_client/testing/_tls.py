"""A throw-away certificate authority for serving ``wss://`` on loopback (``tls=True``).

Built on the ``trustme`` package (a ``dev`` extra): the CA and the server certificate live in
memory; only the CA certificate is written to a temporary PEM file, so clients that take a
file (``websocket-client``'s ``sslopt={"ca_certs": ...}``, ``SSL_CERT_FILE``) can trust it.
The file is removed when the :class:`LoopbackCA` is closed or garbage-collected.
"""

from __future__ import annotations

import os
import shutil
import ssl
import tempfile
import weakref
from typing import Any

__all__ = ["LoopbackCA"]


class LoopbackCA:
    """A CA that has issued one certificate for ``127.0.0.1``, ``::1`` and ``localhost``.

    Raises:
        ImportError: ``trustme`` is not installed (the message names the extra).

    Threads: build it on one thread; the contexts it returns are independent.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        try:
            import trustme
        except ImportError as exc:  # pragma: no cover - trustme is a dev dependency
            raise ImportError("FakeRealtimeServer(tls=True) needs the 'trustme' package: "
                              "pip install 'realtime-client[dev]' (or pip install trustme)") from exc
        names = [host] + [n for n in ("127.0.0.1", "::1", "localhost") if n != host]
        self._ca: Any = trustme.CA(organization_name="realtime-client fake server")
        self._cert: Any = self._ca.issue_cert(*names)
        self._dir = tempfile.mkdtemp(prefix="realtime-fake-ca-")
        self.ca_file = os.path.join(self._dir, "ca.pem")
        self._ca.cert_pem.write_to_path(self.ca_file)
        self._cleanup = weakref.finalize(self, shutil.rmtree, self._dir, True)

    def server_context(self) -> ssl.SSLContext:
        """An SSL context for the server side, presenting the issued certificate.

        It sends no TLS 1.3 session tickets, so nothing follows the handshake before the client
        speaks. Threaded clients that read and write one ``SSLSocket`` from two threads, such
        as ``websockets.sync`` (the ``openai`` SDK's realtime client), race on a ticket: when
        the reader thread handles it while another thread writes the upgrade request, OpenSSL
        can swallow that write (encrypted, never sent), and the client waits its whole open
        timeout for a ``101`` that cannot come. On loopback the tickets arrive just as the
        request is written, and a few wss connects in a hundred stalled. Nothing here resumes
        sessions anyway.
        """
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._cert.configure_cert(context)
        context.num_tickets = 0
        return context

    def client_context(self) -> ssl.SSLContext:
        """An SSL context for a client, trusting only this CA (hostnames are checked)."""
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        self._ca.configure_trust(context)
        return context

    def close(self) -> None:
        """Delete the CA file; idempotent."""
        self._cleanup()
