# Set-up and checks for the course repository. Everything runs in .venv/ with the pinned environment.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
AUTOGRADER := $(VENV)/bin/autograder
SAMPLES := $(wildcard tests/samples/*.ipynb)

.PHONY: install bytecode sandbox browser test flaky bench demo release samples clean

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	@# A registry hiccup makes pip report a dependency conflict: try up to three times.
	for attempt in 1 2 3; do \
	  $(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test,cluster]' && break; \
	  [ $$attempt -lt 3 ] || exit 1; echo "pip install failed (attempt $$attempt), retrying" >&2; sleep 10; \
	done
	touch $@

# A warm kernel's namespace init waits as a small C program (autograder/isolation/reaper.c) instead of a second
# Python interpreter: about 0.5 ms of CPU to start instead of 12, once per kernel. Linked
# statically where the C library allows (no loader to fail if the environment is moved), and executable but not
# readable by others (the kernel makes such a program undumpable from its first instruction). Without a compiler,
# or if the build fails, it uses the Python one (autograder/isolation/confine.py, REAPER), which does the same.
REAPER := $(VENV)/bin/autograder-reaper
$(REAPER): autograder/isolation/reaper.c $(VENV)/.installed
	@rm -f $@.tmp; \
	if { $(CC) -O2 -Wall -Wextra -static -o $@.tmp $< || $(CC) -O2 -Wall -Wextra -o $@.tmp $<; } 2>/dev/null; then \
	  chmod 0711 $@.tmp && mv -f $@.tmp $@; \
	else \
	  rm -f $@.tmp; echo "no working C compiler ($(CC)): warm kernels wait with the Python reaper" >&2; \
	fi

# pip compiles the bytecode of what it installs, but not an editable install's own sources, and the zygote never
# writes any (PYTHONDONTWRITEBYTECODE is part of the sandbox's environment): without this, every zygote compiled the
# stub again at its start, about 0.12 s of CPU on the critical path of every grading; where the whole environment
# sets PYTHONDONTWRITEBYTECODE (this project's CI machines do), the command and its workers compiled theirs too. A
# source changed later is still read right (Python checks each cache against its source) until the next install.
bytecode: $(VENV)/.installed
	$(PY) -m compileall -q autograder autograder_stub

install: $(VENV)/.installed $(REAPER) sandbox bytecode

# The sandbox for student code needs bubblewrap (Debian/Ubuntu package `bubblewrap`); root installs it.
sandbox:
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" -eq 0 ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap) >/dev/null; \
	  else \
	    echo "bubblewrap is missing: sudo apt-get install bubblewrap (see README, Sandbox)" >&2; exit 1; \
	  fi; }

# The browser tests (tests/browser.py: Playwright driving Debian's `chromium`, no browser download) open the
# release, a feedback page and the cohort report in headless Chromium; root installs it, with
# `fonts-noto-color-emoji` so the screenshots show the ✔ ✘ ⏳ marks.
# Anyone else gets a note and those tests are skipped. Only the tests need it, so only `make test` installs it.
browser:
	@{ command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; } \
	  && [ -e /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || { \
	  if [ "$$(id -u)" -eq 0 ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-color-emoji) >/dev/null; \
	  else \
	    echo "chromium is missing: sudo apt-get install chromium fonts-noto-color-emoji (the browser tests are skipped without it)" >&2; \
	  fi; }

# pytest exits 5 when it collects nothing: that is reported, not treated as a crash.
test: install browser
	$(PY) -m pytest -q -p no:cacheprovider --durations=15 || { rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest: no tests collected"; else exit $$rc; fi; }

# A developer's tool, not part of CI: the timing-sensitive suites 5 times in a row, then once with every core
# kept busy, listing any test that did not pass every time. FLAKY_ARGS="--runs 2 --loaded 0 tests/test_sandbox.py".
flaky: install browser
	$(PY) tools/flaky.py $(FLAKY_ARGS)

# Speed and cost figures (printed, never asserted): run on an otherwise idle machine.
# BENCH_ARGS="--batch 20 --curve 1,10,100,500" widens the run (500 takes a while).
bench: install
	$(PY) benchmarks/throughput.py $(BENCH_ARGS)
	$(PY) benchmarks/sandbox_cost.py
	$(PY) benchmarks/cluster.py

release: install
	$(AUTOGRADER) release

samples: install
	$(PY) tests/samples/build_samples.py

# Regenerate the release, grade every sample submission, print the score table per part,
# then grade the same samples with plain `nbgrader autograde` in a scratch copy of the course.
demo: install
	$(AUTOGRADER) release
	$(PY) -m autograder.commands.demo $(SAMPLES)

clean:
	rm -rf demo .pytest_cache
