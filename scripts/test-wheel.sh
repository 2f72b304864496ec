#!/usr/bin/env bash
# `make test-wheel`: builds the sdist and the wheel (the wheel from the sdist, so the sdist
# is proven complete), checks them with twine, installs the wheel into a fresh venv outside
# the repository (only the Debian packages and the wheel's own dependencies present), and
# from there, inside a network namespace, runs scripts/wheel_check.py: version, package
# data, licences, the README example, `aiogstwebrtc doctor --approach 4 --json` and the
# demo serving its page. Leaves the distributions in dist/.
set -euo pipefail
cd "$(dirname "$0")/.."
here="$(pwd)"
say() { echo "test-wheel: $*"; }
fail() { echo "test-wheel: FAILED: $*" >&2; exit 1; }

[ -x .venv/bin/python ] || fail "no .venv: run 'make setup' first"
if ! .venv/bin/python -c "import build, twine" 2>/dev/null; then
  .venv/bin/python -m pip install -q "build>=1.2" "twine>=5" || fail "could not install build and twine"
fi

tmp="$(mktemp -d /tmp/aiogst-wheel.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
rm -rf dist
.venv/bin/python -m build --outdir dist . >"$tmp/build.log" 2>&1 ||
  { tail -n 40 "$tmp/build.log"; fail "python -m build failed"; }
wheel="$(ls dist/aiogstwebrtc-*.whl)"
sdist="$(ls dist/aiogstwebrtc-*.tar.gz)"
say "built $(basename "$sdist") and $(basename "$wheel")"
.venv/bin/python -m twine check --strict dist/* || fail "twine check"
version="$(basename "$wheel" | cut -d- -f2)"

# Python the way a user has it: the system interpreter, a new venv, pip from PyPI. PyGObject
# builds from source (pip's wheel cache makes a second build quick).
python3 -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install -q --upgrade pip >"$tmp/pip.log" 2>&1 ||
  { tail -n 40 "$tmp/pip.log"; fail "pip upgrade in the fresh venv"; }
"$tmp/venv/bin/python" -m pip install -q "$wheel" >>"$tmp/pip.log" 2>&1 ||
  { tail -n 40 "$tmp/pip.log"; fail "pip install $(basename "$wheel") into a fresh venv"; }
say "installed into a fresh venv in $tmp ($(( $(date +%s) - start )) s so far)"

(cd "$tmp" && "$here/scripts/in-netns.sh" "$tmp/venv/bin/python" -I \
  "$here/scripts/wheel_check.py" "$here/README.md" "$version") || fail "the installed wheel"
say "PASSED in $(( $(date +%s) - start )) s"
