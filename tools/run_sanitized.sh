#!/usr/bin/env bash
# Runs a command against the sanitized build of idmatch (IDMATCH_SANITIZE=1,
# see setup.py), e.g. the tests with the leak check of tools/leak_check.py:
#   PYTHONPATH=tools tools/run_sanitized.sh .venv-sanitize/bin/python -m pytest -p leak_check --capture=sys
#
# Python and torch are not instrumented, so the sanitizer runtimes must be
# loaded before them: a library built with -fsanitize=address refuses to load
# into a process whose first library is not the ASan runtime. CC names the
# compiler that built the extension (gcc by default), whose runtimes must be
# the ones preloaded.
#
# pytest needs --capture=sys (or -s): ASan and UBSan write their reports to
# file descriptor 2 and end the process, so under pytest's default fd capture
# a report would be swallowed together with the captured output.
set -euo pipefail

if [ "$#" -eq 0 ]; then
  echo "usage: $0 COMMAND [ARGS...]" >&2
  exit 2
fi

cc=${CC:-gcc}
runtime() {
  local path
  path=$("$cc" -print-file-name="$1")
  # -print-file-name echoes the bare name back when there is no such file.
  if [ ! -e "$path" ]; then
    echo "$cc has no $1: install its sanitizer runtimes (libasan, libubsan)" >&2
    exit 1
  fi
  readlink -f "$path"
}
asan=$(runtime libasan.so)
ubsan=$(runtime libubsan.so)
export LD_PRELOAD="$asan:$ubsan${LD_PRELOAD:+:$LD_PRELOAD}"

here=$(cd "$(dirname "$0")" && pwd)

# LeakSanitizer stays on but never runs at exit (leak_check_at_exit=0): by
# then CPython and torch have dropped references to memory they never free
# by design, and the compilers that torch.compile starts under this preload
# leak on purpose. tools/leak_check.py asks for the check instead, after the
# tests, while everything still in use is reachable.
# PYTHONMALLOC=malloc: CPython's small-object arenas are mmap'ed, and
# LeakSanitizer does not scan them, so every object referenced only from
# another Python object would look leaked.
# Options given by the caller come last, so they win.
export PYTHONMALLOC=malloc
export ASAN_OPTIONS="detect_leaks=1:leak_check_at_exit=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export LSAN_OPTIONS="suppressions=$here/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
# print_stacktrace: UBSan prints only the source line by default.
# halt_on_error: stop at the first finding even in code built without
# -fno-sanitize-recover.
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

# LeakSanitizer's stop-the-world tracer now and then crashes on its own
# ("Tracer caught signal 11", then "LeakSanitizer has encountered a fatal
# error"; google/sanitizers#1353), which ends the process before any leak is
# looked at. A run that ends that way is run again, at most twice; any other
# failure, a leak report included, ends the script at once with its status.
stderr_copy=$(mktemp)
trap 'rm -f "$stderr_copy"' EXIT
crashed() {
  grep -q "Tracer caught signal" "$stderr_copy" && grep -q "LeakSanitizer has encountered a fatal error" "$stderr_copy"
}
attempts=3
for attempt in $(seq "$attempts"); do
  # stderr goes through tee to its place and to the copy; stdout (fd 3)
  # goes straight to its place.
  set +e
  { "$@" 2>&1 1>&3 3>&- | tee "$stderr_copy" >&2 3>&-; } 3>&1
  status=${PIPESTATUS[0]}
  set -e
  if [ "$status" -eq 0 ] || ! crashed; then
    exit "$status"
  fi
  if [ "$attempt" -lt "$attempts" ]; then
    echo "run_sanitized.sh: LeakSanitizer's tracer crashed (not a leak); running the command again" >&2
  fi
done
echo "run_sanitized.sh: LeakSanitizer's tracer crashed in all $attempts runs" >&2
exit "$status"
