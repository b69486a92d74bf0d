"""Draw the comparison's PNG plots from ``comparison.json`` (runs in its own venv with matplotlib).

    python bench/peers/plots.py docs/results/comparison.json docs/img

Prints the path of every image it wrote, one per line.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

LABELS = {
    "paho": "bare paho",
    "routemq": "RouteMQ",
    "routemq5": "RouteMQ (MQTT 5)",
    "original": "original RouteMQ",
    "faststream": "FastStream",
}
COLORS = {
    "paho": "#7f7f7f",
    "routemq": "#1f77b4",
    "routemq5": "#6baed6",
    "original": "#ff7f0e",
    "faststream": "#2ca02c",
}
SCENARIOS = {
    "qos1": "QoS 1",
    "qos0": "QoS 0",
    "io": "I/O-bound\n(1 ms await)",
    "routes1000": "1,000 routes",
    "cpu1": "CPU-bound\n1 worker",
    "cpu2": "CPU-bound\n2 workers",
}


def subtitle(data: dict[str, Any]) -> str:
    m = data["machine"]
    return (
        f"{data['date'][:10]} · {m['cores']} cores · Python {m['python']} · "
        f"mosquitto {m['mosquitto']} · {data['runs']} run(s), median, bars = min to max"
    )


def save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def grouped_bars(
    ax: Any, groups: list[str], systems: list[str], value: Any, err: Any | None = None
) -> None:
    width = 0.8 / len(systems)
    for i, system in enumerate(systems):
        xs, ys, lo, hi = [], [], [], []
        for g, group in enumerate(groups):
            v = value(group, system)
            if v is None:
                continue
            xs.append(g + (i - (len(systems) - 1) / 2) * width)
            ys.append(v)
            if err:
                a, b = err(group, system)
                lo.append(v - a)
                hi.append(b - v)
        if not xs:
            continue
        ax.bar(
            xs,
            ys,
            width,
            label=LABELS[system],
            color=COLORS[system],
            yerr=[lo, hi] if err else None,
            capsize=2,
        )


def throughput(data: dict[str, Any], out: Path) -> Path:
    summary = data["summary"]
    groups = [g for g in SCENARIOS if g in summary]
    systems = [s for s in LABELS if any(s in summary[g] for g in groups)]

    def row(group: str, system: str) -> dict[str, Any] | None:
        r = summary[group].get(system)
        return r if r and "rate" in r else None

    fig, ax = plt.subplots(figsize=(11, 5))
    grouped_bars(
        ax,
        groups,
        systems,
        lambda g, s: row(g, s)["rate"]["median"] if row(g, s) else None,
        lambda g, s: (row(g, s)["rate"]["min"], row(g, s)["rate"]["max"]),
    )
    ax.set_xticks(range(len(groups)), [SCENARIOS[g] for g in groups])
    ax.set_ylabel("messages per second (one backlog drained)")
    ax.set_title("Throughput per system\n" + subtitle(data), fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return save(fig, out / "comparison-throughput.png")


def memory(data: dict[str, Any], out: Path) -> Path:
    row = data["summary"].get("qos1", {})
    systems = [s for s in LABELS if s in row and "rss_mib" in row[s]]
    fig, ax = plt.subplots(figsize=(8, 4))
    xs = range(len(systems))
    ax.bar([x - 0.2 for x in xs], [row[s]["rss_mib"] for s in systems], 0.4, label="RSS")
    ax.bar([x + 0.2 for x in xs], [row[s]["uss_mib"] for s in systems], 0.4, label="USS")
    ax.axhline(25, color="red", linestyle="--", linewidth=1, label="RSS goal (25 MiB)")
    ax.set_xticks(list(xs), [LABELS[s] for s in systems], fontsize=8)
    ax.set_ylabel("MiB per worker after draining (QoS 1)")
    ax.set_title("Memory per worker\n" + subtitle(data), fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return save(fig, out / "comparison-memory.png")


def ratios(data: dict[str, Any], out: Path) -> Path:
    summary = data["summary"]

    def med(group: str, system: str) -> float | None:
        r = summary.get(group, {}).get(system)
        return r["rate"]["median"] if r and "rate" in r else None

    cases = {
        "1,000 routes / 1 route": ("routes1000", "qos1", 0.9),
        "2 workers / 1 (CPU-bound)": ("cpu2", "cpu1", 1.7),
    }
    systems = ["paho", "routemq", "original", "faststream"]
    fig, axes = plt.subplots(1, len(cases), figsize=(10, 4))
    for ax, (title, (a, b, goal)) in zip(axes, cases.items(), strict=True):
        names, values = [], []
        for s in systems:
            x, y = med(a, s), med(b, s)
            if x and y:
                names.append(LABELS[s])
                values.append(x / y)
        ax.bar(names, values, color=[COLORS[k] for k, v in LABELS.items() if v in names])
        ax.axhline(goal, color="red", linestyle="--", linewidth=1, label=f"RouteMQ goal {goal}x")
        ax.set_title(title, fontsize=10)
        ax.tick_params(axis="x", labelsize=7)
        ax.legend(fontsize=7)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("Scaling\n" + subtitle(data), fontsize=10)
    return save(fig, out / "comparison-scaling.png")


def cli(data: dict[str, Any], out: Path) -> Path | None:
    rows = []
    for part in ("startup", "new"):
        section = (data.get("cli") or {}).get(part) or {}
        rows += section.get("results", [])
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(rows) + 1.5))
    names = [r["case"] for r in rows]
    ax.barh(names, [r["median_ms"] for r in rows], color="#1f77b4")
    ax.invert_yaxis()
    ax.set_xlabel("median wall time, ms (fresh process)")
    ax.tick_params(axis="y", labelsize=8)
    ax.set_title("Command line\n" + subtitle(data), fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return save(fig, out / "comparison-cli.png")


def _case_label(case: str) -> str:
    key, _, workers = case.partition("-")
    return f"{LABELS[key]}, {workers[:-1]} workers" if workers else LABELS[key]


def _case_style(case: str) -> dict[str, Any]:
    key, _, workers = case.partition("-")
    return {"color": COLORS[key], "linestyle": "--" if workers else "-"}


def _ms(value: Any) -> float | None:
    if value is None:
        return None
    return float(value["over"]) if isinstance(value, dict) else float(value)


def latency_subtitle(data: dict[str, Any], latency: dict[str, Any]) -> str:
    m = data["machine"]
    return (
        f"{latency['date'][:10]} · {m['cores']} cores · mosquitto {m['mosquitto']} · QoS 1 · "
        f"{latency['seconds']:.0f} s per rate · median of {latency['runs']} run(s) · "
        f"load {latency['load_before']:.2f} before"
    )


def latency_vs_rate(data: dict[str, Any], out: Path) -> Path | None:
    latency = (data.get("extras") or {}).get("latency") or {}
    if "cases" not in latency:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(12, 5), sharey=True)
    for ax, key in zip(axes, ("p50", "p99"), strict=True):
        for case, by_rate in latency["cases"].items():
            xs, ys, open_x, open_y = [], [], [], []
            for fraction in latency["fractions"]:
                row = by_rate.get(str(fraction)) or {}
                value = _ms(row.get(key))
                if value is None:
                    continue
                x = latency["capacity"] * fraction
                xs.append(x)
                ys.append(value)
                if isinstance(row.get(key), dict):  # only a lower bound is known
                    open_x.append(x)
                    open_y.append(value)
            if not xs:
                continue
            style = _case_style(case)
            ax.plot(xs, ys, marker="o", label=_case_label(case), **style)
            if open_x:
                ax.scatter(open_x, open_y, marker="^", s=80, color=style["color"], zorder=3)
        ax.set_yscale("log")
        ax.set_xlabel("offered rate, messages per second")
        ax.set_title(f"{key} publish → handler start", fontsize=10)
        ax.grid(which="both", alpha=0.3)
    axes[0].set_ylabel("milliseconds (log scale); ▲ = lower bound (messages left unhandled)")
    axes[1].legend(fontsize=8)
    fig.suptitle("Latency vs rate\n" + latency_subtitle(data, latency), fontsize=10)
    return save(fig, out / "comparison-latency-rate.png")


def latency_cdf(data: dict[str, Any], out: Path) -> Path | None:
    latency = (data.get("extras") or {}).get("latency") or {}
    if "cases" not in latency:
        return None
    fraction = 0.5 if 0.5 in latency["fractions"] else latency["fractions"][0]
    fig, ax = plt.subplots(figsize=(9, 5))
    for case, by_rate in latency["cases"].items():
        row = by_rate.get(str(fraction)) or {}
        points = row.get("cdf") or []
        if not points:
            continue
        share = row["handled"] / row["sent"] if row.get("sent") else 1.0
        xs = [p[0] for p in points]
        ys = [p[1] * share for p in points]  # unhandled messages keep the curve below 1
        ax.plot(xs, ys, label=_case_label(case), **_case_style(case))
    ax.set_xscale("log")
    ax.set_xlabel("publish → handler start, milliseconds (log scale)")
    ax.set_ylabel("fraction of messages sent")
    ax.set_ylim(0, 1.01)
    ax.grid(which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(
        f"Latency CDF at {fraction:.0%} of bare paho's capacity "
        f"({latency['capacity'] * fraction:,.0f} msg/s)\n" + latency_subtitle(data, latency),
        fontsize=10,
    )
    return save(fig, out / "comparison-latency-cdf.png")


def main(argv: list[str]) -> int:
    data = json.loads(Path(argv[1]).read_text())
    out = Path(argv[2])
    out.mkdir(parents=True, exist_ok=True)
    for draw in (throughput, memory, ratios, cli, latency_vs_rate, latency_cdf):
        path = draw(data, out)
        if path is not None:
            print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
