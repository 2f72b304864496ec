#!/usr/bin/env bash
# Runs a pytest command line, its output kept in test-artifacts/pytest-PID.log as well as
# shown. When pytest dies of a crash (SIGABRT/SIGSEGV in GStreamer, GLib or Python) the
# last lines printed are which test was running and the head of the fatal error report
# (the crashing thread's stack, the GLib message before it): a CI log that keeps only its
# tail then still says what crashed.
#   scripts/pytest-crash-report.sh .venv/bin/python -m pytest -q ...
set -uo pipefail
mkdir -p test-artifacts
log="test-artifacts/pytest-$$.log"
running="$PWD/test-artifacts/running-test-$$"
rm -f "$running"
export AIOGST_RUNNING_TEST="$running"  # tests/conftest.py writes each test's id there
"$@" 2>&1 | tee "$log"
status="${PIPESTATUS[0]}"
if [ "$status" -ge 128 ] || grep -q 'Fatal Python error' "$log"; then
  echo "=== pytest crashed (exit $status) while running: $(cat "$running" 2>/dev/null || echo '?')"
  # The GLib/GStreamer lines just before the fatal error, then the crashing thread's
  # stack (25 frames) and the top three frames of every other thread.
  grep -B 12 -m 1 'Fatal Python error' "$log" | grep -v 'Fatal Python error' | tail -n 12
  awk '
    /Fatal Python error/ { on = 1; print; next }
    !on { next }
    /^Extension modules/ { exit }
    /^Current thread/ { current = 1; shown = 0; print; next }
    current && /^  File/ && shown >= 25 { next }
    current && /^  File/ { shown++ }
    /^Thread 0x/ { current = 0; shown = 0; print; next }
    current { print; next }
    /^  File/ && shown < 3 { shown++; print }
  ' "$log" | head -n 120
  echo "=== end of crash report (full output: $log)"
fi
rm -f "$running"
exit "$status"
