"""Argument parsing, logging and the error policy shared by every command.

Every command returns an exit status: 0 on success, 1 when something failed at run time
(one line on standard error says what), 2 for bad usage (argparse), 130 after Ctrl+C.
No traceback reaches the terminal unless ``-v`` asks for the SDK's log.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import List, Optional

from .._errors import AudioDeviceError
from ._errors import EXIT_FAILURE, EXIT_INTERRUPTED, CliError, one_line

__all__ = ["build_parser", "main"]

PROG = "realtime-client"


def _providers() -> List[str]:
    from ..adapters import ADAPTERS

    return sorted(ADAPTERS)


def _default_provider(names: List[str]) -> str:
    return "openai" if "openai" in names else names[0]


def _device(value: str) -> object:
    """A device given by index (digits) or by part of its name."""
    return int(value) if value.strip().isdigit() else value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``realtime-client``; provider choices come from ``ADAPTERS``."""
    providers = _providers()
    parser = argparse.ArgumentParser(prog=PROG, description="realtime voice AI conversations from the "
                                     "terminal (python -m realtime_client)")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="show the SDK's log on standard error (-vv: debug, with the wire log)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    chat = sub.add_parser("chat", help="a live conversation: microphone and speaker, or text",
                          description="Talk with a realtime model. Without the provider's API key in "
                          "the environment (OPENAI_API_KEY for openai) it talks to the embedded fake "
                          "server. When standard input is not a terminal, each line is sent as a text "
                          "message and the answer printed.")
    chat.add_argument("--provider", choices=providers, default=_default_provider(providers),
                      help="which provider to talk to (default: %(default)s)")
    chat.add_argument("--model", help="the model (default: the provider's)")
    chat.add_argument("--voice", help="the assistant's voice (default: the provider's)")
    chat.add_argument("--instructions", help="system instructions for the session")
    chat.add_argument("--input-device", type=_device, metavar="DEVICE",
                      help="microphone: an index or part of a name (see 'devices')")
    chat.add_argument("--output-device", type=_device, metavar="DEVICE",
                      help="speaker: an index or part of a name (see 'devices')")
    chat.add_argument("--echo", choices=("gate", "aec", "off"), default="gate",
                      help="echo handling: gate (default), aec (needs the aec extra), off (headphones)")
    chat.add_argument("--push-to-talk", action="store_true",
                      help="manual turns instead of voice detection: Ctrl+T opens the microphone, "
                           "Ctrl+T again sends what you said")
    chat.add_argument("--text", action="store_true", help="the assistant answers in text, not speech")
    chat.add_argument("--no-audio", action="store_true",
                      help="open no microphone or speaker: type, and read spoken answers as transcripts")
    chat.add_argument("--record", metavar="FILE",
                      help="record both sides into a stereo WAV (left: you, right: the assistant)")
    chat.add_argument("--fake", action="store_true",
                      help="use the embedded fake server even when an API key is set")
    chat.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                      help="how long to wait for connecting and for each answer (default: %(default)s)")

    sub.add_parser("devices", help="list audio input and output devices",
                   description="List the audio devices PortAudio sees, with their default sample rates; "
                   "pass an index or part of a name to chat --input-device/--output-device.")

    token = sub.add_parser("token", help="mint a provider token server-side and print its JSON",
                           description="Mint a short-lived token with the provider's API key (e.g. "
                           "OPENAI_API_KEY) and print it in TanStack's shape: "
                           '{"provider", "token", "expiresAt" (ms), "config"}.')
    token.add_argument("--provider", choices=providers, default=_default_provider(providers),
                       help="whose token to mint (default: %(default)s)")
    token.add_argument("--model", help="the model the token is for (default: the provider's)")
    token.add_argument("--base-url", metavar="URL",
                       help="the provider's API base (default: $<PROVIDER>_BASE_URL, else the "
                            "provider's own, e.g. https://api.openai.com/v1)")
    token.add_argument("--expires-after", type=int, metavar="SECONDS",
                       help="the token's lifetime (default: the provider's minting default)")

    demo = sub.add_parser("demo", help="a short conversation: text in, transcripts, a tool call, "
                                       "audio to WAV")
    demo.add_argument("--out", default="demo-output/assistant.wav",
                      help="WAV file for the assistant's audio (default: %(default)s)")
    demo.add_argument("--live", action="store_true",
                      help="talk to OpenAI instead of the embedded fake server (needs OPENAI_API_KEY)")
    demo.add_argument("--provider", choices=providers, default=_default_provider(providers),
                      help="which provider's protocol the embedded fake server speaks (default: %(default)s)")
    return parser


def _configure_logging(verbosity: int) -> None:
    logger = logging.getLogger("realtime_client")
    if verbosity <= 0:
        # A handler of our own keeps logging's last-resort handler from printing the SDK's
        # warnings and errors (the CLI reports them itself, in one line).
        logger.addHandler(logging.NullHandler())
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbosity > 1 else logging.INFO)


def main(argv: Optional[List[str]] = None) -> int:
    """Run one ``realtime-client`` command; return its exit status.

    Threads: the main thread (Ctrl+C arrives there as ``KeyboardInterrupt``).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "chat" and args.record and args.no_audio:
        parser.error("--record needs audio devices; drop --no-audio")
    if args.command == "chat" and not args.timeout > 0:
        parser.error(f"--timeout must be a positive number of seconds, got {args.timeout:g}")
    _configure_logging(args.verbose)
    try:
        if args.command == "chat":
            from ._chat import run_chat

            return run_chat(args)
        if args.command == "devices":
            from ._devices import run_devices

            return run_devices(sys.stdout)
        if args.command == "token":
            from ._token import run_token

            return run_token(args, sys.stdout)
        from .._demo import run_demo

        return run_demo(out=args.out, live=args.live, provider=args.provider)
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return EXIT_INTERRUPTED
    except CliError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return exc.status
    except Exception as exc:  # the CLI's contract: one line, no traceback (-v logs it)
        if args.verbose:
            logging.getLogger("realtime_client").exception("%s failed", args.command)
        hint = ""
        if args.command == "chat" and isinstance(exc, AudioDeviceError):
            hint = " (pick a device from `realtime-client devices`, or chat with --no-audio)"
        print(f"{PROG}: {one_line(exc)}{hint}", file=sys.stderr)
        return EXIT_FAILURE
