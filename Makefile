# The two commands of the quick start:  make book  and  make test.
# Both create .venv from the pinned requirements the first time (and again when they change).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 8000
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.DEFAULT_GOAL := help
.PHONY: time-notebooks venv book test test-kllib test-notebooks test-build test-hygiene test-student test-site test-seeds test-other-seed lab serve student bench clean help

help:
	@echo "make book     build the book into _build/html (creates .venv the first time)"
	@echo "make test     run every test: kllib, notebooks, strict build, hygiene, browser"
	@echo "make lab      open JupyterLab on book/"
	@echo "make serve    serve _build/html on http://127.0.0.1:$(PORT)"
	@echo "make student  write the student edition to _build/student/"
	@echo "make test-seeds  run every chapter under other seeds (SEEDS=\"1 2 3\" by default)"
	@echo "make time-notebooks  execute each chapter once and print its time"
	@echo "make bench    run the benchmarks (by hand; slow)"

$(STAMP): requirements.txt requirements-test.txt constraints.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-input -r requirements.txt -r requirements-test.txt -c constraints.txt
	@touch $(STAMP)

venv: $(STAMP)

book: $(STAMP)
	$(BIN)/jupyter-book build . --builder html
	@echo
	@echo "The book is built: open file://$(CURDIR)/_build/html/index.html  (or: make serve)"

test: $(STAMP)
	$(MAKE) test-hygiene
	$(MAKE) test-kllib
	$(MAKE) test-notebooks
	$(MAKE) test-other-seed
	$(MAKE) test-student
	$(MAKE) test-build
	$(MAKE) test-site
	@echo "make test: every check passed"

test-hygiene: $(STAMP)
	$(BIN)/python -m pytest -q tests/test_hygiene.py

test-kllib: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n 2 tests --ignore=tests/browser --ignore=tests/test_hygiene.py --ignore=tests/test_student_edition.py

# nbval runs every notebook and fails on any error (including a failing assert).
# Two notebooks at a time, one thread each, on a 2-core machine.
# Each run also records a digest of every chapter's outputs, so test-other-seed can check that they change with the seed.
OTHER_SEED ?= 1
DIGESTS    := _build/seed-outputs
NBVAL      := OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n 2 --dist loadfile --nbval-lax -p no:cacheprovider -p tests.nbval_outputs book
test-notebooks: $(STAMP)
	rm -rf $(DIGESTS)/0
	KL_BOOK_SEED=0 KL_BOOK_OUTPUT_DIGESTS=$(DIGESTS)/0 $(NBVAL)

# Every chapter again under another seed (its claims must hold for any seed), and its outputs must differ from seed 0's.
test-other-seed: $(STAMP)
	@test -d $(DIGESTS)/0 || $(MAKE) test-notebooks
	rm -rf $(DIGESTS)/$(OTHER_SEED)
	KL_BOOK_SEED=$(OTHER_SEED) KL_BOOK_OUTPUT_DIGESTS=$(DIGESTS)/$(OTHER_SEED) $(NBVAL)
	$(BIN)/python tools/compare_seed_outputs.py $(DIGESTS)/0 $(DIGESTS)/$(OTHER_SEED)

# Every chapter under other seeds: each reads KL_BOOK_SEED, and its claims must hold for any seed.
SEEDS ?= 1 2 3
test-seeds: $(STAMP)
	@for s in $(SEEDS); do \
	  echo "--- KL_BOOK_SEED=$$s"; \
	  KL_BOOK_SEED=$$s $(NBVAL) || exit 1; \
	done

# The student edition: every stub fails its check clearly; the rest of each notebook runs.
test-student: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n 2 tests/test_student_edition.py

# The strict build: warnings, broken references and failing cells are errors.
test-build: $(STAMP)
	$(BIN)/jupyter-book build . --builder html -W -n --keep-going

test-site: $(STAMP)
	@bash tools/ensure_chromium.sh
	$(BIN)/python -m pytest -q tests/browser

lab: $(STAMP)
	$(BIN)/jupyter lab book/

serve:
	@test -f _build/html/index.html || { echo "No site yet: run 'make book' first."; exit 1; }
	@echo "Serving the book on http://127.0.0.1:$(PORT)  (Ctrl-C to stop)"
	$(BIN)/python -m http.server $(PORT) --bind 127.0.0.1 --directory _build/html

student: $(STAMP)
	$(BIN)/python tools/make_student.py --out _build/student

bench: $(STAMP)
	$(BIN)/pip install --quiet -r benchmarks/requirements.txt -c constraints.txt
	$(BIN)/python benchmarks/kl_memory.py
	$(BIN)/python benchmarks/rl_cartpole.py

time-notebooks: $(STAMP)
	$(BIN)/python tools/time_notebooks.py

clean:
	rm -rf _build
