# make run  - start the PBX on config.example.yaml
# make test - set up this machine (venv, Debian packages when root) and run the whole suite

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Debian packages the end-to-end tests drive (real SIP peers) or need for prompts; postgresql:
# the tests start a private server of their own (tests/pg_server.py) to run the database tests on it;
# chromium: the wallboard test drives it headless with Playwright (tests/e2e/browser.py).
DEBS := python3-venv sip-tester baresip-core sipvicious espeak-ng sox libsox-fmt-all tshark postgresql chromium

PROMPTS := var/prompts/en

.PHONY: run test debs venv bench clean prompts

run: $(STAMP) prompts
	$(VENV)/bin/pbx run --config config.example.yaml

# Spoken prompts and music on hold, rendered locally with espeak-ng and sox (no network).
prompts:
	@bash examples/prompts/render.sh examples/prompts/en.txt $(PROMPTS) || { \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends espeak-ng sox && \
			bash examples/prompts/render.sh examples/prompts/en.txt $(PROMPTS); \
		else echo "prompts skipped: install espeak-ng and sox to render them"; fi; }

test: debs $(STAMP)
	$(PY) -m pytest -q -ra -n 2 --dist loadfile

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -m venv $(VENV) || { echo "python3 -m venv failed: install python3-venv (apt-get install python3-venv)"; exit 1; }
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

# Install the missing Debian packages when we are root; otherwise say what is missing.
debs:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
		echo "installing Debian packages:$$missing"; \
		while fuser /var/lib/dpkg/lock-frontend >/dev/null 2>&1; do sleep 3; done; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	else \
		echo "missing Debian packages (end-to-end tests will be skipped):$$missing"; \
		echo "install them with: sudo apt-get install$$missing"; \
	fi

bench: $(STAMP)
	$(PY) benchmarks/bench_parse.py
	$(PY) benchmarks/bench_register.py
	$(PY) benchmarks/bench_calls.py
	$(PY) benchmarks/bench_relay.py

clean:
	rm -rf $(VENV) .pytest_cache var
