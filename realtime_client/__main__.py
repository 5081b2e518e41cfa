"""Command line: ``python -m realtime_client demo`` runs a short conversation offline."""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m realtime_client",
                                     description="realtime-client command line")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="a short conversation: text in, transcripts, a tool call, "
                                       "audio to WAV")
    demo.add_argument("--out", default="demo-output/assistant.wav",
                      help="WAV file for the assistant's audio (default: %(default)s)")
    demo.add_argument("--live", action="store_true",
                      help="talk to OpenAI instead of the embedded fake server (needs OPENAI_API_KEY)")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from ._demo import run_demo

        return run_demo(out=args.out, live=args.live)
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":
    sys.exit(main())
