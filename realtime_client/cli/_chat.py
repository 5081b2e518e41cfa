"""``realtime-client chat``: build the client, then run the screen or the line-by-line script mode."""

from __future__ import annotations

import argparse
import signal
import sys
from typing import IO, Any, Dict, Iterable

from .._client import RealtimeClient
from ._errors import EXIT_OK, CliError
from ._target import Target, open_target

__all__ = ["build_client", "run_chat", "run_lines"]


def _interactive() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def run_chat(args: argparse.Namespace) -> int:
    """Run ``chat``: the interactive screen on a terminal, else one text message per input line."""
    interactive = _interactive()
    if interactive:
        from ._tui import require_prompt_toolkit

        require_prompt_toolkit()
    # A person watching the screen wants speech at its real pace; a script wants answers fast.
    target = open_target(args.provider, model=args.model, fake=args.fake,
                         pacing="realtime" if interactive else "fast", audio=not args.no_audio)
    client = None
    try:
        if target.note:
            print(target.note, file=sys.stderr, flush=True)
        if interactive:
            from ._tui import ChatScreen

            screen = ChatScreen(push_to_talk=args.push_to_talk, microphone=not args.no_audio)
            client = build_client(args, target, interactive=True, **screen.callbacks())
            where = "the embedded fake server" if target.server is not None else target.provider
            return screen.run(client, timeout=args.timeout, where=where)
        client = build_client(args, target, interactive=False)
        return run_lines(client, sys.stdin, sys.stdout, timeout=args.timeout)
    finally:
        # A second Ctrl+C must not break the teardown into a traceback.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            if client is not None:
                client.destroy()
            target.close()
        finally:
            signal.signal(signal.SIGINT, previous)


def build_client(args: argparse.Namespace, target: Target, *, interactive: bool,
                 **callbacks: Any) -> RealtimeClient:
    """A :class:`RealtimeClient` for ``target`` configured from the ``chat`` options.

    The microphone is opened only on a terminal (a script sends text lines); with
    ``--push-to-talk`` it opens on the talk key (manual turns), otherwise at once (server VAD).
    """
    options: Dict[str, Any] = dict(get_token=target.get_token, adapter=target.adapter, voice=args.voice,
                                   instructions=args.instructions, echo=args.echo,
                                   record_to=args.record, **callbacks)
    if args.text:
        options["output_modalities"] = ("text",)
    if args.push_to_talk:
        options["vad_mode"] = "manual"
    if args.no_audio:
        options.update(auto_playback=False, auto_capture=False)
        return RealtimeClient(**options)
    options["output_device"] = args.output_device
    if interactive and args.push_to_talk:
        from ..audio import PyAudioInput

        options.update(audio_input=PyAudioInput(device=args.input_device), auto_capture=False)
    elif interactive:
        options.update(input_device=args.input_device, auto_capture=True)
    else:
        options["auto_capture"] = False
    return RealtimeClient(**options)


def run_lines(client: RealtimeClient, lines: Iterable[str], out: IO[str], *, timeout: float) -> int:
    """Script mode: connect, send each non-empty line, print each answer, exit after the last.

    Each answer is printed as soon as it is complete; the next line waits until its audio
    has been played, so answers never talk over each other.
    """
    client.connect(timeout=timeout)
    for line in lines:
        text = line.strip()
        if not text:
            continue
        try:
            answer = client.ask(text, timeout=timeout)
        except TimeoutError:
            raise CliError(f"no answer within {timeout:g} s") from None
        print(answer.text, file=out, flush=True)
        try:
            client.wait_for_playback(timeout=timeout)
        except TimeoutError:
            raise CliError(f"the answer was still playing after {timeout:g} s") from None
    return EXIT_OK

