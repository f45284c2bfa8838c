#!/usr/bin/env python3
"""Chart of a scripts/bench.sh run: every library relative to libzmq, per row.

    python3 scripts/bench_chart.py target/bench/summary.csv docs/perf/chart.png [subtitle]

Reads the summary.csv that monocoque-bench writes (row, metric, lib, median, ratio_to_libzmq,
higher_is_better, loss_pct) and draws one horizontal bar per library and row: the median of the
per-round ratio to libzmq, inverted for latency and memory so that longer is always better.
Log scale; bars grow from libzmq's 1, right is better. Hatched bars lost messages (pub/sub).
"""

import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

LIBS = ["monocoque", "monocoque-epoll", "monocoque-handle", "omq-tokio", "zeromq", "monocoque-rs", "raw"]
COLORS = {
    "monocoque": "#d62728",
    "monocoque-epoll": "#ff9896",
    "monocoque-handle": "#ff7f0e",
    "omq-tokio": "#1f77b4",
    "zeromq": "#2ca02c",
    "monocoque-rs": "#9467bd",
    "raw": "#7f7f7f",
}
# Figures worth a bar: throughput, latency p50 and p99, fan-out, router.
METRICS = {"msgs_per_s", "mb_per_s", "p50_us", "p99_us", "delivered_per_s", "req_per_s", "kib_per_conn"}


def number(text):
    try:
        return float(text)
    except ValueError:
        return None


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    source, target = sys.argv[1], sys.argv[2]
    subtitle = sys.argv[3] if len(sys.argv) > 3 else ""
    rows = []  # (label, {lib: (relative, lossy)})
    index = {}
    with open(source, newline="") as f:
        for rec in csv.DictReader(f):
            if rec["metric"] not in METRICS or rec["lib"] not in LIBS:
                continue
            label = rec["row"]
            if rec["metric"] == "p50_us" and not label.endswith("p50"):
                label += " p50"
            if label not in index:
                index[label] = len(rows)
                rows.append((label, {}))
            ratio = number(rec["ratio_to_libzmq"])
            if ratio is None or ratio <= 0:
                continue
            relative = ratio if rec["higher_is_better"] == "true" else 1.0 / ratio
            loss = number(rec["loss_pct"])
            rows[index[label]][1][rec["lib"]] = (relative, loss is not None and loss > 0.1)
    if not rows:
        sys.exit("no rows with ratios in " + source)

    bar = 0.8 / len(LIBS)
    height = max(6.0, 0.62 * len(rows) + 1.5)
    fig, ax = plt.subplots(figsize=(11, height))
    for i, (_, cells) in enumerate(rows):
        for j, lib in enumerate(LIBS):
            if lib not in cells:
                continue
            relative, lossy = cells[lib]
            y = i + (j - (len(LIBS) - 1) / 2) * bar
            # Bars grow from libzmq's 1 to the library's figure: right is better, left worse.
            ax.barh(
                y,
                relative - 1.0,
                left=1.0,
                height=bar,
                color=COLORS[lib],
                hatch="///" if lossy else None,
                edgecolor="white" if lossy else COLORS[lib],
                linewidth=0.3,
            )
            ax.text(
                relative * (1.03 if relative >= 1 else 0.97),
                y,
                f"{relative:.2g}",
                va="center",
                ha="left" if relative >= 1 else "right",
                fontsize=5.5,
            )
    ax.set_xscale("log")
    ax.axvline(1.0, color="black", linewidth=1.0)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([label for label, _ in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("relative to libzmq in the same round (log scale; > 1 is better; µs and KiB inverted)")
    ax.grid(axis="x", which="both", alpha=0.3)
    handles = [plt.Rectangle((0, 0), 1, 1, color=COLORS[lib]) for lib in LIBS]
    handles.append(plt.Rectangle((0, 0), 1, 1, facecolor="#cccccc", hatch="///", edgecolor="white"))
    ax.legend(handles, LIBS + ["lost messages"], loc="lower right", fontsize=8)
    title = "monocoque and other ZeroMQ implementations vs libzmq 4.3.4"
    if subtitle:
        title += "\n" + subtitle
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(target, dpi=110)
    print("chart written to " + target)


if __name__ == "__main__":
    main()
