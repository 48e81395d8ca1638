# The two quick-start commands are `make lab` and `make test`; each installs what it needs.
#
# Every target runs the project's own virtual environment, .venv in this checkout, made with
# the system Python (PYTHON). A virtual environment that is already active ($VIRTUAL_ENV) is
# used instead. Set-up runs with PYTHON and the standard library only; see
# `python3 -m cephlab setup --help` (logs in .lab/setup/).
PYTHON ?= /usr/bin/python3
VENV ?= .venv
PYTEST_ARGS ?=
SETUP_ARGS ?=
# The fast tier's pytest-xdist processes; each test module runs whole on one of them (its
# module-scoped lab included). 0 runs it in this process.
TEST_WORKERS ?= 2

ifdef VIRTUAL_ENV
PY := $(VIRTUAL_ENV)/bin/python
else
PY := $(VENV)/bin/python
endif

.PHONY: setup kube lab lab-nodes test test-unit test-lab test-all lint bench destroy

setup:
	$(PYTHON) -m cephlab setup --venv $(VENV) $(SETUP_ARGS)

# The nodes target's Kubernetes, built from source once and cached (programs, node root,
# images): `make kube`, then `pytest features/ --lab-target=nodes`.
kube:
	$(PYTHON) -m cephlab setup --venv $(VENV) --kube $(SETUP_ARGS)

# The lab on the nodes target (after `make kube`): a real kubeadm cluster in node containers.
lab-nodes: kube
	$(PY) -m pytest features/ --lab-target=nodes --lab-report=reports/lab-nodes-$$(date -u +%Y%m%d-%H%M%S).html $(PYTEST_ARGS)

# The main job: build and verify the lab on the default target (auto: local without
# Vagrant) and, locally, the default Ceph release (auto: 20 where its root can be built).
lab: setup
	$(PY) -m pytest features/ --lab-report=reports/lab-$$(date -u +%Y%m%d-%H%M%S).html $(PYTEST_ARGS)

# The harness's own tests, in tiers by marker (tests/conftest.py, TIERS; each test module names
# its own). `make test-unit` is the unit tier, seconds: pure functions and objects in this
# process (a unit test that starts a child process fails). `make test` is the fast tier, a few
# minutes: the unit tier, the stand-in tier (the harness against stand-ins, plan checks, child
# pytest runs) and one real local lab (smoke: the lifecycle core). `make test-lab` is every
# suite that builds real labs of its own (faults, interrupts, verify, Ghost, reports, the nodes
# target's cluster), about 14 minutes on two processes; `make test-all` runs both. The real
# labs run on the release users get by default, Ceph 20 in its root (CEPHLAB_TEST_CEPH=host or
# 18 for another; tests/conftest.py, TEST_CEPH), but tests/test_local_data.py's, which stays on
# this machine's Ceph on purpose.
test-unit: SETUP_ARGS += --tests
test-unit: setup
	$(PY) -m pytest tests/ -m unit $(PYTEST_ARGS)

test: SETUP_ARGS += --tests
test: setup
	$(PY) -m pytest tests/ -m "not lab" -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test-lab: SETUP_ARGS += --tests
test-lab: setup
	$(PY) -m pytest tests/ -m lab -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test-all: test test-lab

# ruff over the checkout and mypy over the package (pyproject.toml: [tool.ruff], [tool.mypy]);
# CI runs it and both must be clean.
lint: SETUP_ARGS += --tests
lint: setup
	$(PY) -m ruff check .
	$(PY) -m mypy

bench: setup
	$(PY) bench/bench.py

# Stop a kept local lab's daemons and remove it.
destroy:
	$(PY) -m cephlab destroy
