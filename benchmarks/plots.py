"""Draw the docs' benchmark plots from a ``python -m benchmarks --json`` file.

``python -m benchmarks.plots RESULTS.json OUT_DIR`` writes ``bench-latency.png`` (latency and
truncation distributions, ours against each peer) and ``bench-cpu.png`` (CPU over time during
the full-duplex runs), and prints the run's table as Markdown (for docs/benchmarks.md).
``make bench-plots`` runs the benchmarks and then this. Needs matplotlib
(``pip install 'realtime-client[bench]'``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

OURS, PEER, OTHER = "#1f77b4", "#d62728", "#7f7f7f"


def _strip(ax: Any, groups: Sequence[Tuple[str, List[float], str]], title: str, unit: str) -> None:
    """A box per group with every run drawn over it as a dot."""
    import numpy as np

    data = [g[1] if g[1] else [float("nan")] for g in groups]
    box = ax.boxplot(data, widths=0.5, showfliers=False, patch_artist=True)
    for patch, (_, _, color) in zip(box["boxes"], groups):
        patch.set_facecolor(color)
        patch.set_alpha(0.25)
    jitter = np.random.default_rng(0)
    for i, (_, values, color) in enumerate(groups, start=1):
        ax.plot(i + jitter.uniform(-0.12, 0.12, len(values)), values, "o", color=color, ms=4, alpha=0.8)
    ax.set_xticks(range(1, len(groups) + 1), [g[0] for g in groups])
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(unit)
    ax.grid(axis="y", alpha=0.3)


def _key(rows: List[Dict[str, Any]], key: str) -> List[float]:
    return [float(r[key]) for r in rows if key in r]


def latency(raw: Dict[str, Any], path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(10, 7.5))
    el = raw.get("elevenlabs", {}).get("sessions", {})
    _strip(axes[0][0], [("ours", _key(el.get("ours", []), "barge_ms"), OURS),
                        ("elevenlabs SDK", _key(el.get("sdk", []), "barge_ms"), PEER)],
           "ElevenLabs: interruption sent -> speaker silent", "ms (speaker's monitor)")
    oa = raw.get("openai", {}).get("truncation", {})
    _strip(axes[0][1], [("ours", _key(oa.get("ours", []), "barge_ms"), OURS),
                        ("openai-agents", _key(oa.get("agents", []), "barge_ms"), PEER)],
           "OpenAI: speech_started sent -> speaker silent", "ms (speaker's monitor)")
    _strip(axes[1][0], [("ours", _key(oa.get("ours", []), "error_ms"), OURS),
                        ("openai-agents", _key(oa.get("agents", []), "error_ms"), PEER)],
           "Truncation error: audio_end_ms - really played", "ms")
    axes[1][0].axhline(0, color="black", lw=0.8)
    providers = raw.get("metrics", {}).get("providers", {})
    _strip(axes[1][1], [(p, _key(v, "first_heard_ms"), OURS) for p, v in providers.items()],
           "TurnMetrics: text sent -> first audio heard (fakes)", "ms")
    fig.suptitle("realtime-client against its peers (same machine, devices, server, audio)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def cpu(raw: Dict[str, Any], path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    panels = [("elevenlabs", "ElevenLabs agent, full duplex", (("ours", OURS), ("sdk", PEER))),
              ("openai", "OpenAI, full duplex", (("ours", OURS), ("agents", PEER), ("bare", OTHER)))]
    for ax, (name, title, series_names) in zip(axes, panels):
        series = raw.get(name, {}).get("cpu_series", {})
        for key, color in series_names:
            for run, steps in enumerate(series.get(key, [])):
                xs = [0.5 * (i + 1) for i in range(len(steps))]
                label = {"sdk": "elevenlabs SDK", "agents": "openai-agents", "bare": "bare openai loop"}.get(
                    key, key) if run == 0 else None
                ax.plot(xs, steps, color=color, alpha=0.75, lw=1.2, label=label)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("s into the run (each run a line)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("CPU s per minute (process)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(results: Dict[str, Any]) -> str:
    """The run's rows as a Markdown table."""
    lines = ["| metric | ours | peer | ratio | goal | verdict |", "|---|---|---|---|---|---|"]
    for row in results["rows"]:
        keys = ("metric", "ours", "peer", "ratio", "goal", "verdict")
        cells = [str(row[k]).replace("|", "\\|") for k in keys]
        cells[5] = "**missed**" if cells[5] == "MISSED" else cells[5]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: List[str]) -> int:
    import matplotlib

    matplotlib.use("Agg")
    results, out = Path(argv[0]), Path(argv[1])
    data = json.loads(results.read_text())
    raw = data["raw"]
    out.mkdir(parents=True, exist_ok=True)
    latency(raw, out / "bench-latency.png")
    cpu(raw, out / "bench-cpu.png")
    print(markdown(data))
    print(f"\nwrote {out / 'bench-latency.png'} and {out / 'bench-cpu.png'} from the run at "
          f"{data.get('commit')} ({data.get('machine')}, load {data.get('load', 0):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
