"""Run every benchmark and print one table."""

from __future__ import annotations

import sys
from typing import List, Tuple

from . import bench_audio, bench_connect, bench_gemini_resume, bench_ingest, bench_resilience


def main() -> int:
    rows: List[Tuple[str, str, str, str]] = []
    for module in (bench_connect, bench_ingest, bench_resilience, bench_gemini_resume, bench_audio):
        rows.extend(module.run())
    try:
        import elevenlabs  # noqa: F401  (the official SDK is the other side of this one)
    except ImportError:
        print("skipping bench_elevenlabs: pip install elevenlabs", file=sys.stderr)
    else:
        from . import bench_elevenlabs

        rows.extend(bench_elevenlabs.run())
    widths = [max(len(r[i]) for r in [("benchmark", "result", "target", "verdict"), *rows]) for i in range(4)]
    header = ("benchmark", "result", "target", "verdict")
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(c.ljust(w) for c, w in zip(row, widths)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
