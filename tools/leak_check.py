"""pytest plugin: a LeakSanitizer check of the whole test session, for the
sanitized build run through tools/run_sanitized.sh:

    PYTHONPATH=tools tools/run_sanitized.sh python -m pytest -p leak_check --capture=sys

The check runs once, after the tests and their fixtures are done, and fails
the session when it finds memory that nothing references any more (minus the
suppressions in tools/lsan.supp). It complements tests/test_memory.py, whose
resident-memory bounds cannot see a leak of a few bytes per call.
"""

import ctypes
import sys

import pytest


def _leak_check():
    try:
        return ctypes.CDLL(None).__lsan_do_recoverable_leak_check
    except AttributeError:
        return None


def pytest_configure(config):
    if _leak_check() is None:
        raise pytest.UsageError(
            "-p leak_check needs the LeakSanitizer runtime in the process: run pytest through tools/run_sanitized.sh"
        )


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    # trylast: after the runner has torn down session fixtures, whose memory
    # is legitimately held until then.
    capture = session.config.pluginmanager.getplugin("capturemanager")
    if capture is not None:
        capture.suspend_global_capture(in_=True)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        leaked = _leak_check()() != 0
    finally:
        if capture is not None:
            capture.resume_global_capture()
    if leaked:
        sys.stderr.write("leak_check: LeakSanitizer found leaks (report above)\n")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
