# The two quick-start commands are `make lab` and `make test`; each installs what it needs.
PYTHON ?= python3
PYTEST_ARGS ?=

.PHONY: setup lab test bench destroy

setup:
	$(PYTHON) -m pip install -q -e '.[test]'
	$(PYTHON) -m cephlab setup --all --tests

# The main job: build and verify the lab on the default target (auto: local without Vagrant).
lab: setup
	$(PYTHON) -m pytest features/ --lab-report=reports/lab-$$(date -u +%Y%m%d-%H%M%S).html $(PYTEST_ARGS)

# The harness's own tests (a real local Ceph cluster included).
test: setup
	$(PYTHON) -m pytest tests/ $(PYTEST_ARGS)

bench: setup
	$(PYTHON) bench/bench.py

# Stop a kept local lab's daemons and remove it.
destroy:
	$(PYTHON) -m cephlab destroy
