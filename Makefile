# Marquee — the two commands: `make run` (the main job) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Extra pip options, e.g. PIP_EXTRA='--extra-index-url https://download.pytorch.org/whl/cpu'
# on machines whose default index would give torch's CUDA build.
PIP_EXTRA ?=
# Recipes that pipe (make run's stage tags) fail when the command does.
SHELL := bash
.SHELLFLAGS := -o pipefail -c

BENCHES := ranking ids distill serving ope experiment artwork sim playback homepage scale

.PHONY: run run-leaderboard run-models run-context test install bench $(addprefix bench-,$(BENCHES)) clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the project's dependencies change. `make run` needs the package alone;
# `make test` adds the test extras (pytest, statsmodels, pandas: the independent references).
# pip byte-compiles every file it installs (all of torch), which takes longer than installing them:
# --no-compile, then one import of what Marquee runs writes the bytecode of just those modules
# (even where PYTHONDONTWRITEBYTECODE is set, so later commands do not compile them again).
PIP     := $(BIN)/python -m pip install --quiet --disable-pip-version-check --no-compile $(PIP_EXTRA)
WARM_UP := marquee.cli.main, marquee.rank, marquee.rank.onnx_runtime, marquee.evaluate.report, marquee.serve.app, marquee.sim, torch.onnx, onnxscript

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) -e .
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -c 'import $(WARM_UP)'
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) -e '.[test]'
	touch $@

install: $(VENV)/.installed

# Hyperparameters each ranker's grid search chose, recorded by bench/ranking.py (which reruns the
# search); `make run TUNE=1` searches the grids again instead (5.3 min for all six on 2 cores in bench/ranking.py).
TUNED  := configs/movielens-100k.toml
TUNE   ?=
TUNING := $(if $(TUNE),--tune,--no-tune --config $(TUNED))

## make run: set up, fetch MovieLens-100K, evaluate every ranker (with the recorded tuned
## configurations), print the leaderboard, register the heavy model (SASRec) and its distilled
## light student, learn the context stage (device x daypart) from a simulated log, fit the homepage's
## page model on impressions logged in the simulated world, and serve on http://127.0.0.1:8000 with
## the homepage at http://127.0.0.1:8000/ (everything it loads is served by Marquee: it works offline).
##
## The three middle stages need only the data, so they run side by side (-j2), each on one thread
## (torch, BLAS and implicit's OpenMP): two single-threaded SASRec fits at once finish well before
## two two-threaded fits one after the other. Their lines are tagged [leaderboard], [models] or
## [context] as they come.
ONE_THREAD := OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
tag = 2>&1 | sed -u 's/^/[$(1)] /'

run: install
	$(BIN)/marquee data fetch movielens-100k
	$(MAKE) --no-print-directory -j2 run-leaderboard run-models run-context
	$(BIN)/marquee serve --heavy sasrec@production --light sasrec-student@production --context context@production

run-leaderboard:
	$(ONE_THREAD) $(BIN)/marquee evaluate $(TUNING) --report reports/leaderboard.html --json reports/leaderboard.json \
		--export-recs reports/test_top10.csv $(call tag,leaderboard)

run-models:
	$(ONE_THREAD) $(BIN)/marquee train sasrec $(TUNING) $(call tag,models)
	$(ONE_THREAD) $(BIN)/marquee distill --teacher sasrec@production $(call tag,models)

run-context:
	$(ONE_THREAD) $(BIN)/marquee sim generate --name movielens-sim $(call tag,context)
	$(ONE_THREAD) $(BIN)/marquee train-context --dataset movielens-sim --base ease $(call tag,context)
	$(ONE_THREAD) $(BIN)/marquee page fit $(call tag,context)

## make test: set up with the test extras and run the suite.
test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q

## make bench: every benchmark behind BENCHMARKS.md (each rewrites its own section).
## bench-serving and bench-artwork need wrk and taskset (Debian: apt-get install wrk util-linux).
## make bench-playback_tune (about 40 min, not part of make bench) rechooses the Marquee ABR scheme's defaults.
bench: $(addprefix bench-,$(BENCHES))

bench-%: $(VENV)/.installed-test
	$(BIN)/python bench/$*.py

clean:
	rm -rf $(VENV) reports build *.egg-info
