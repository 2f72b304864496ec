# The two commands a user needs: `make demo` and `make test`. Both install what is missing.
PY := .venv/bin/python
NETNS := scripts/in-netns.sh
# After a crash, says which test was running and what crashed (the last lines of the log).
CRASH_REPORT := scripts/pytest-crash-report.sh

.PHONY: setup test-setup demo test test-wheel test-other-release lint typecheck clean bench bench-quick docs

setup:
	@scripts/bootstrap.sh

# The browser tests drive Debian's Chromium, and in it third-party WHIP/WHEP clients from npm
# (tests/browser/npm, bundled by scripts/npm-clients.sh; Debian's npm unless one is installed).
test-setup:
	@BOOTSTRAP_APT_EXTRA="chromium firefox-esr fonts-liberation$$(command -v npm >/dev/null || echo ' npm')" \
		scripts/bootstrap.sh
	@scripts/npm-clients.sh

demo: setup
	@$(PY) -m aiogstwebrtc demo

test: test-setup lint typecheck
	$(NETNS) $(CRASH_REPORT) $(PY) -m pytest -q
	AIOGST_LOOP=gi-events $(NETNS) $(CRASH_REPORT) $(PY) -m pytest -q -m "not slow" \
		tests/core tests/interop tests/media tests/reliability \
		tests/doctor/test_strategies_end_to_end.py

# The built wheel, installed into a fresh venv outside the repository, runs the README
# example, the doctor and the demo (scripts/test-wheel.sh); leaves dist/.
test-wheel: setup
	scripts/test-wheel.sh

# The other supported Debian release (12 <-> 13) in a cached debootstrap chroot: a fresh clone
# of HEAD's commit runs `make test` there (scripts/test-other-release.sh; needs root).
test-other-release:
	scripts/test-other-release.sh

lint: setup
	.venv/bin/ruff check aiogstwebrtc tests examples bench scripts

typecheck: setup
	.venv/bin/mypy

# Benchmarks against aiortc (docs/performance.md), inside a network namespace like the tests.
bench:
	@BOOTSTRAP_EXTRAS=bench scripts/bootstrap.sh
	$(PY) -m bench.native --install
	$(NETNS) $(PY) -m bench

bench-quick:
	@BOOTSTRAP_EXTRAS=bench scripts/bootstrap.sh
	$(NETNS) $(PY) -m bench --quick

# The documentation site (mkdocs.yml) into site/; --strict: any warning (a broken link or
# anchor, a docstring mkdocstrings cannot read) fails the build.
docs:
	@BOOTSTRAP_EXTRAS=docs scripts/bootstrap.sh
	NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --site-dir site

clean:
	rm -rf site .venv *.egg-info dist build test-artifacts .pytest_cache .mypy_cache .ruff_cache \
		tests/browser/npm/node_modules tests/browser/npm/dist
