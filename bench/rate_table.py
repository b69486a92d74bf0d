"""The results table the dispatch benchmarks print: median, spread and ratio to a baseline.

Imported by the scripts next to it (``python bench/routing.py`` puts ``bench/`` on the path).
"""

from __future__ import annotations

import json
import statistics


def print_rates(
    rates: dict[str, list[float]], baseline: str, first_column: str, json_path: str | None = None
) -> dict[str, dict[str, object]]:
    """A Markdown table of msg/s per contender against ``baseline``; also to ``json_path``."""
    base = statistics.median(rates[baseline])
    print(f"| {first_column} | median msg/s | min | max | ratio vs {baseline} |")
    print("|---|---:|---:|---:|---:|")
    results: dict[str, dict[str, object]] = {}
    for name, values in rates.items():
        median = statistics.median(values)
        results[name] = {"median": median, "runs": values, "ratio": median / base}
        print(
            f"| {name} | {median:,.0f} | {min(values):,.0f} | {max(values):,.0f} "
            f"| {median / base:.2f}x |"
        )
    if json_path:
        with open(json_path, "w") as handle:
            json.dump(results, handle, indent=2)
    return results
