"""Run every benchmark and print one table: metric, ours, peer, ratio, goal, verdict.

``python -m benchmarks`` runs everything (``make bench``, about 10 minutes on two cores);
``--quick`` runs each benchmark briefly, to check that the harness works (CI's smoke test: its
figures mean nothing); ``--json PATH`` also writes every row and the raw figures the plots are
drawn from (``python -m benchmarks.plots PATH``); ``--only NAME[,NAME]`` runs some of them.
Figures are spreads over runs: ``median (min-max, n=N)``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import subprocess
import sys
import time
from typing import Any, Dict, List

from ._harness import Row

HEADER = Row("metric", "ours", "peer", "ratio", "goal", "verdict")
# (name, module, needs): needs is the import a benchmark's peer needs ("" when none)
BENCHMARKS = [
    ("connect", "bench_connect", "openai"),
    ("ingest", "bench_ingest", ""),
    ("resilience", "bench_resilience", ""),
    ("gemini", "bench_gemini_resume", ""),
    ("audio", "bench_audio", ""),
    ("elevenlabs", "bench_elevenlabs", "elevenlabs"),
    ("openai", "bench_openai", "agents"),
    ("metrics", "bench_metrics", ""),
]


def table(rows: List[Row]) -> str:
    """The rows as one aligned text table (a header, a rule, one line per row)."""
    cells = [tuple(str(c) for c in HEADER)] + [tuple(str(c) for c in row) for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(HEADER))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths)) for r in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def _row(r: Any) -> Row:
    """A benchmark's row; the older ones give (metric, result, target, verdict)."""
    return Row(r[0], r[1], "", "", r[2], r[3]) if len(r) == 4 else Row(*r)


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=False).stdout.strip()
    except OSError:
        return ""


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="a short smoke run (figures are meaningless)")
    parser.add_argument("--json", metavar="PATH", help="also write the rows and raw figures here")
    parser.add_argument("--only", metavar="NAMES",
                        help="comma-separated: " + ",".join(b[0] for b in BENCHMARKS))
    args = parser.parse_args(argv)
    only = set(args.only.split(",")) if args.only else None
    rows: List[Row] = []
    raw: Dict[str, Any] = {}
    started, load = time.monotonic(), os.getloadavg()[0]
    for name, module_name, needs in BENCHMARKS:
        if only is not None and name not in only:
            continue
        if needs:
            try:
                importlib.import_module(needs)
            except ImportError:
                print(f"skipping {name}: pip install 'realtime-client[bench]' (needs {needs})",
                      file=sys.stderr)
                rows.append(Row(f"{name}: skipped", "n/a", "", "", "", f"needs {needs}"))
                continue
        module = importlib.import_module(f".{module_name}", __package__)
        t0 = time.monotonic()
        try:
            if hasattr(module, "measure"):
                data = module.measure(args.quick)
                raw[name] = data
                rows.extend(module.rows(data))
            else:
                rows.extend(_row(r) for r in module.run(args.quick))
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
                raise
            rows.append(Row(f"{name}: failed", "n/a", "", "", "", f"{type(exc).__name__}: {exc}"[:80]))
        print(f"[{name}: {time.monotonic() - t0:.1f} s]", file=sys.stderr)
    print(table(rows))
    print(f"\n{'quick smoke run' if args.quick else 'full run'} in {time.monotonic() - started:.0f} s "
          f"at {_commit() or 'an unknown commit'}; load average at the start: {load:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": [r._asdict() for r in rows], "raw": raw, "quick": args.quick,
                       "commit": _commit(), "load": load, "python": platform.python_version(),
                       "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores"},
                      f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
