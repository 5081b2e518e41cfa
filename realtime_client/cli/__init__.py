"""The ``realtime-client`` command line (also ``python -m realtime_client``).

Commands:

* ``chat``: a live conversation in the terminal (microphone and speaker, or typed text),
  with the transcript as it streams, level meters and keys for push-to-talk, interrupt and
  quit. With standard input not a terminal, each input line is sent as a text message and
  the answer printed, so it can be scripted.
* ``devices``: the audio devices PortAudio sees, with their default rates.
* ``token``: mint a provider token server-side and print it as TanStack-shaped JSON.
* ``demo``: a short scripted conversation that writes the assistant's audio to a WAV file.

Without an API key for the chosen provider, ``chat`` talks to the embedded
:class:`~realtime_client.testing.FakeRealtimeServer`, which speaks with espeak-ng and (with the
``speech`` extra) hears with pocketsphinx. The interactive screen needs the ``cli`` extra
(``prompt_toolkit``).

.. versionadded:: 0.2.0
"""

from __future__ import annotations

from ._main import build_parser, main

__all__ = ["build_parser", "main"]
