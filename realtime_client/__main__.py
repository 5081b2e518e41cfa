"""``python -m realtime_client``: the ``realtime-client`` command line (see :mod:`realtime_client.cli`)."""

from __future__ import annotations

import sys
from typing import List, Optional


def main(argv: Optional[List[str]] = None) -> int:
    """Run the command line; return its exit status (the ``realtime-client`` console script)."""
    from .cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
