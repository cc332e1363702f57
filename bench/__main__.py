"""Run every benchmark: ``python -m bench [--quick]``. Each prints its figures beside a baseline."""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    failures = 0
    for script in sorted(HERE.glob("bench_*.py")):
        print(f"\n===== {script.stem}", flush=True)
        failures += subprocess.call([sys.executable, str(script), *sys.argv[1:]], cwd=HERE.parent) != 0
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
