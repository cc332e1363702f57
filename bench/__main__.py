"""Run every benchmark: ``python -m bench [--quick]``. Each prints its figures beside a baseline."""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Benchmarks whose real run is long get a short run here; run the script itself for the real figures.
SHORT_RUNS = {"bench_soak": ["--quick"]}


def main() -> int:
    failures = 0
    for script in sorted(HERE.glob("bench_*.py")):
        print(f"\n===== {script.stem}", flush=True)
        arguments = [*SHORT_RUNS.get(script.stem, []), *sys.argv[1:]]
        failures += subprocess.call([sys.executable, str(script), *arguments], cwd=HERE.parent) != 0
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
