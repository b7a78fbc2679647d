# Two commands do all set-up on a fresh Debian machine (Python 3.11, root):
#   make demo   -- install what is missing, then run the main job on the embedded default
#   make demo-zh -- the same call in Mandarin (the 星河通信 support line)
#   make test   -- install what is missing, then run the whole test suite
#   make lint   -- ruff (rules and format) on the whole tree, mypy on voicebot/
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
APT_PACKAGES := espeak-ng sox kamailio sip-tester sipvicious kamailio-tls-modules rtpengine-daemon \
	baresip-core openssl postgresql tshark chromium
STAMP := $(VENV)/.installed
# the smart-turn ONNX (voicebot/speech/turn_model.py) ships in pipecat-ai's wheel (BSD-2-Clause);
# only the file is used, so the framework's own dependencies are not installed
TURN_MODEL := pipecat-ai==1.14.0
TURN_STAMP := $(VENV)/.turn-model

.PHONY: setup demo demo-zh demo-text test lint apt bench-deps clean

setup: apt $(STAMP) $(TURN_STAMP)

apt:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get -o DPkg::Lock::Timeout=300 update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

$(TURN_STAMP): $(STAMP)
	$(BIN)/pip install -q --no-deps '$(TURN_MODEL)'
	touch $@

demo: setup
	$(BIN)/python -m voicebot.contrib.demo

demo-zh: setup
	$(BIN)/python -m voicebot.contrib.demo zh

demo-text: setup
	$(BIN)/voicebot flow chat dialog_flows/support_line.yaml --clock 2026-11-24T10:00:00-05:00 \
	  --http-fixtures dialog_flows/support_line.test.yaml \
	  < dialog_flows/demo/support_line.chat

test: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy voicebot

# benchmarks only: dumpcap (tshark) for bench/telephony_bench.py's wire capture, the noise
# suppressors bench/noise_bench.py compares
bench-deps: setup
	$(BIN)/pip install -q -e '.[bench]'
	@dpkg -s tshark >/dev/null 2>&1 || (apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends tshark >/dev/null)

clean:
	rm -rf $(VENV)
