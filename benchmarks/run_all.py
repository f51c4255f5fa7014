"""`make bench`: run every benchmark script in this folder (bench_*.py) in one process tree, in order.

Speed and memory claims are checked here, not in unit tests; each script prints a table and writes
benchmarks/results/<name>.json (and PNGs where a plot says more); then ``targets.py`` compares every figure
with its target (benchmarks/results/targets.md) and the exit status is 1 on a miss. Ratios are only compared
within one run.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    only = set(sys.argv[1:])
    failed = []
    for s in scripts:
        if only and s.stem not in only and s.stem.removeprefix("bench_") not in only:
            continue
        print(f"\n=== {s.name} ===", flush=True)
        t0 = time.time()
        r = subprocess.run([sys.executable, str(s)], cwd=HERE.parent)
        print(f"=== {s.name}: {'ok' if r.returncode == 0 else 'FAILED'} in {time.time() - t0:.0f} s", flush=True)
        if r.returncode:
            failed.append(s.name)
    print("\n=== targets ===", flush=True)
    import targets  # beside this file

    missed = targets.main([])
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed or missed else 0


if __name__ == "__main__":
    sys.exit(main())
