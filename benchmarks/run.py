"""Run every benchmark and write ``BENCHMARKS.md`` with the machine it ran on.

Each ``benchmarks/bench_<topic>.py`` is a script whose ``main()`` prints one
markdown section of measured numbers. This runner starts each in its own
process (so peak-memory figures do not leak between them), keeps what each
prints in ``benchmarks/results/<topic>.md`` with the machine it ran on, and
joins all kept sections into ``BENCHMARKS.md`` at the top of the repository,
so re-running one benchmark updates only its own section. What is written by
hand about a section (the load on the machine, how to read the numbers) lives
in ``benchmarks/notes/<topic>.md`` and is joined after that section, so no
run overwrites it and ``BENCHMARKS.md`` is never edited by hand.

Usage::

    python benchmarks/run.py                 # every benchmark
    python benchmarks/run.py features lobes  # only bench_features.py and bench_lobes.py
    python benchmarks/run.py --join          # rewrite BENCHMARKS.md from results/ and notes/
"""

import argparse
import datetime
import os
import platform
import subprocess
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results"
NOTES = BENCH_DIR / "notes"
OUTPUT = BENCH_DIR.parent / "BENCHMARKS.md"
HEADER = (
    "# Benchmarks\n\nWritten by `python benchmarks/run.py [TOPIC ...]` from "
    "`benchmarks/results/` (what each benchmark printed) and `benchmarks/notes/` (written by "
    "hand); do not edit by hand.\n\n"
)


def machine_description() -> str:
    """Describe the machine in one markdown paragraph (CPU, cores, memory, library versions)."""
    import lightning
    import opensmile
    import speechbrain
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            names = [line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"Machine: {cpu}, {os.cpu_count()} cores, {memory_gb:.0f} GiB, {platform.platform()}; "
        f"Python {platform.python_version()}, torch {torch.__version__}, "
        f"speechbrain {speechbrain.__version__}, lightning {lightning.__version__}, "
        f"opensmile {opensmile.__version__}."
    )


def run_benchmark(script: Path) -> str:
    """Run one benchmark script and return its markdown, or a section saying how it failed."""
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, cwd=BENCH_DIR.parent
    )
    if result.returncode != 0:
        log = result.stderr[-3000:]
        return f"## {script.stem}\n\nFAILED (exit {result.returncode}):\n\n```\n{log}\n```\n"
    return result.stdout


def joined() -> str:
    """The text of ``BENCHMARKS.md``: every kept section, each followed by its notes."""
    sections = []
    for path in sorted(RESULTS.glob("*.md")):
        notes = NOTES / path.name
        sections.append(path.read_text() + (f"\n{notes.read_text()}" if notes.is_file() else ""))
    return HEADER + "\n".join(sections)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("topics", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--join", action="store_true",
                        help="run nothing; rewrite BENCHMARKS.md from results/ and notes/")
    args = parser.parse_args()
    if args.join:
        OUTPUT.write_text(joined())
        print(f"wrote {OUTPUT}")
        return
    scripts = sorted(BENCH_DIR.glob("bench_*.py"))
    if args.topics:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in args.topics]
    RESULTS.mkdir(exist_ok=True)
    machine = machine_description()
    for script in scripts:
        print(f"running {script.name} ...", flush=True)
        section = run_benchmark(script)
        stamp = f"\n_Run on {datetime.date.today().isoformat()}. {machine}_\n"
        (RESULTS / f"{script.stem.removeprefix('bench_')}.md").write_text(section + stamp)
    OUTPUT.write_text(joined())
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
