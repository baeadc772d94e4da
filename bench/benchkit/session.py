"""One benchmark script's run: signals unwind, a progress log, the processes
it starts and a temp dir, all cleaned up at the end."""
from __future__ import annotations

import contextlib
import sys
import tempfile
from pathlib import Path

from benchkit.info import machine_info, progress_log
from benchkit.procs import Procs, clean_up, unwind_on_signals


@contextlib.contextmanager
def session(script: str, argv, build_dir: Path):
    """Yields (procs, tmp, log, result): result starts with the machine and
    the command line (`python3 bench/SCRIPT ARGS`). Every process started
    with procs is stopped and tmp removed on the way out, also on Ctrl-C or
    SIGTERM (raised as KeyboardInterrupt: the caller returns 130)."""
    unwind_on_signals()
    log = progress_log()
    procs = Procs()
    tmp = Path(tempfile.mkdtemp(prefix=f"gw-{Path(script).stem}-"))
    result = {"machine": machine_info(build_dir),
              "command": " ".join(["python3", f"bench/{script}", *(argv if argv is not None else sys.argv[1:])])}
    try:
        yield procs, tmp, log, result
    finally:
        clean_up(procs, tmp)


def add_target_options(ap, workers: bool = True):
    """The options that shape the targets as compare.py's do: --workers
    (unless the script has its own), --keepalive, --build-dir."""
    if workers:
        ap.add_argument("--workers", type=int, default=1, help="as compare.py (default 1)")
    ap.add_argument("--keepalive", type=int, default=64, help="as compare.py (default 64)")
    ap.add_argument("--build-dir", type=Path, default=Path(__file__).resolve().parents[2] / "build",
                    help="where gateway and sample-service are (default: build/)")


def binaries(build_dir: Path) -> dict[str, Path]:
    return {b: build_dir / b for b in ("gateway", "sample-service")}
