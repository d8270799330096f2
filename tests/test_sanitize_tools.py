"""tools/run_sanitized.sh runs a command again when, and only when,
LeakSanitizer's own tracer crashed in it; a stand-in command plays the
sanitized test session, so no sanitized build is needed."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

RUN_SANITIZED = Path(__file__).resolve().parent.parent / "tools" / "run_sanitized.sh"
SANITIZER_VARIABLES = ("LD_PRELOAD", "ASAN_OPTIONS", "LSAN_OPTIONS", "UBSAN_OPTIONS")
TRACER_CRASH = "Tracer caught signal 11: addr=0x5000 pc=0x1 sp=0x2\n==1==LeakSanitizer has encountered a fatal error.\n"
# Without the sanitizer runtimes the script refuses to run anything, with
# its own message: only that skips these tests.
MISSING_RUNTIMES = "install its sanitizer runtimes"


def _run_sanitized(*command):
    return subprocess.run(
        ["bash", str(RUN_SANITIZED), *command],
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if k not in SANITIZER_VARIABLES},
    )


pytestmark = pytest.mark.skipif(
    MISSING_RUNTIMES in _run_sanitized("true").stderr, reason="needs the compiler's libasan and libubsan"
)


def _run(tmp_path, stderr_by_run, exit_by_run):
    # The stand-in writes stderr_by_run[k] and exits with exit_by_run[k] on
    # its k-th run (the last entry repeats), and counts its runs in a file.
    script = tmp_path / "stand_in.py"
    script.write_text(
        "import sys\n"
        "from pathlib import Path\n"
        f"stderrs, exits = {stderr_by_run!r}, {exit_by_run!r}\n"
        f"count = Path({str(tmp_path / 'runs')!r})\n"
        "k = int(count.read_text()) if count.exists() else 0\n"
        "count.write_text(str(k + 1))\n"
        "sys.stderr.write(stderrs[min(k, len(stderrs) - 1)])\n"
        "sys.exit(exits[min(k, len(exits) - 1)])\n"
    )
    # The stand-in is not instrumented: the preloaded runtimes only wait.
    result = _run_sanitized(sys.executable, str(script))
    return result, int((tmp_path / "runs").read_text())


def test_a_passing_command_runs_once(tmp_path):
    result, runs = _run(tmp_path, ["fine\n"], [0])
    assert (result.returncode, runs) == (0, 1), result.stderr


def test_a_tracer_crash_runs_the_command_again(tmp_path):
    result, runs = _run(tmp_path, [TRACER_CRASH, "fine\n"], [1, 0])
    assert (result.returncode, runs) == (0, 2), result.stderr
    assert "running the command again" in result.stderr


def test_tracer_crashes_stop_after_three_runs(tmp_path):
    result, runs = _run(tmp_path, [TRACER_CRASH], [1])
    assert (result.returncode, runs) == (1, 3), result.stderr
    assert "crashed in all 3 runs" in result.stderr


@pytest.mark.parametrize(
    "stderr",
    [
        "==1==ERROR: LeakSanitizer: detected memory leaks\n",
        # LeakSanitizer cannot stop the threads at all (under ptrace): a rerun
        # would fail the same way.
        "==1==LeakSanitizer has encountered a fatal error.\n",
        "1 failed, 2 passed\n",
    ],
    ids=["leak", "no-tracer", "failure"],
)
def test_any_other_failure_ends_at_once(tmp_path, stderr):
    result, runs = _run(tmp_path, [stderr], [1])
    assert (result.returncode, runs) == (1, 1), result.stderr
