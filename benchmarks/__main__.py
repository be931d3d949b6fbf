"""Run every benchmark module's ``run()`` and write its result to ``results/<name>.json``."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

BENCHMARKS_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCHMARKS_DIR / "results"


def discover() -> list[str]:
    """Names of the benchmark modules (every ``benchmarks/*.py`` but the package's own)."""
    return sorted(
        path.stem for path in BENCHMARKS_DIR.glob("*.py") if not path.stem.startswith("_")
    )


def main(argv: list[str] | None = None) -> int:
    available = discover()
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default all: {available})")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(available))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; available: {available}")
    names = args.names or available

    console = Console()
    RESULTS_DIR.mkdir(exist_ok=True)
    failures = 0
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("benchmarks", total=len(names))
        for name in names:
            progress.update(task, description=f"running {name}")
            started = time.perf_counter()
            try:
                result = importlib.import_module(f"benchmarks.{name}").run()
            except Exception as exc:  # report and go on: one broken benchmark must not hide others
                failures += 1
                progress.console.print(f"[red]{name} failed: {type(exc).__name__}: {exc}")
            else:
                result.setdefault("benchmark", name)
                result.setdefault("wall_seconds", round(time.perf_counter() - started, 2))
                out = RESULTS_DIR / f"{name}.json"
                out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
                progress.console.print(
                    f"[green]{name}[/] -> {out.relative_to(Path.cwd())}"
                    if out.is_relative_to(Path.cwd())
                    else f"{name} -> {out}"
                )
            progress.advance(task)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
