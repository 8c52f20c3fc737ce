# The two commands of the quick start:  make book  and  make test.
# Both create .venv from the pinned requirements the first time (and again when they change).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 8000
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.DEFAULT_GOAL := help
.PHONY: time-notebooks venv book test test-kllib test-notebooks test-build test-hygiene test-student test-site test-seeds test-other-seed lab serve student bench clean help pdf pdf-student pdf-student-only test-pdf nbgrader test-latest

help:
	@echo "make book     build the book into _build/html (creates .venv the first time)"
	@echo "make test     run every test: kllib, notebooks, strict build, hygiene, browser"
	@echo "make lab      open JupyterLab on book/"
	@echo "make serve    serve _build/html on http://127.0.0.1:$(PORT)"
	@echo "make student  write the student edition to _build/student/"
	@echo "make nbgrader write the nbgrader course to _build/nbgrader/ (source/<chapter>/ + nbgrader_config.py)"
	@echo "make test-latest  run every chapter in a fresh venv with the newest releases kllib's ranges allow"
	@echo "make pdf      build the PDF edition: _build/latex/book.pdf (STUDENT=1: also the student PDF)"
	@echo "make pdf-student  build the student PDF (no solutions): _build/student-book/_build/latex/book-student.pdf"
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
	@# The strict build executes the chapters one at a time (one core); the student and nbgrader tests use the other.
	$(MAKE) -j 2 --output-sync=target test-student test-build
	$(MAKE) test-site
	@echo "make test: every check passed"

test-hygiene: $(STAMP)
	$(BIN)/python -m pytest -q tests/test_hygiene.py tests/test_figures_hygiene.py

test-kllib: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n 2 tests --ignore=tests/browser --ignore=tests/test_hygiene.py --ignore=tests/test_figures_hygiene.py --ignore=tests/test_pdf.py --ignore=tests/test_student_edition.py --ignore=tests/test_nbgrader.py

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
# ... and the real nbgrader generates, autogrades and gives feedback on three chapters (tests/test_nbgrader.py).
test-student: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n 2 tests/test_student_edition.py tests/test_nbgrader.py

# The strict build: warnings, broken references and failing cells are errors.
test-build: $(STAMP)
	$(BIN)/jupyter-book build . --builder html -W -n --keep-going

# --dist loadgroup: the tests of one page run on one worker, which loads the page once for all of them (tests/browser/conftest.py).
test-site: $(STAMP)
	@bash tools/ensure_chromium.sh
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup tests/browser

# The PDF edition: Jupyter Book's LaTeX builder with xelatex (TeX Live from Debian, installed by
# tools/ensure_texlive.sh when missing). Notebooks run through the same jupyter-cache as make book.
# The student edition (solutions replaced by stubs) is laid out by tools/student_book.py from the executed
# chapters (a stub cannot run) and built without executing.
pdf: $(STAMP)
	@bash tools/ensure_texlive.sh
	OMP_NUM_THREADS=1 $(BIN)/jupyter-book build . --builder pdflatex
	@test -f _build/latex/book.pdf && echo "The PDF edition: $(CURDIR)/_build/latex/book.pdf"
	@if [ "$(STUDENT)" = "1" ]; then $(MAKE) --no-print-directory pdf-student-only; fi

pdf-student: $(STAMP)
	@bash tools/ensure_texlive.sh
	OMP_NUM_THREADS=1 $(BIN)/jupyter-book build . --builder latex
	$(MAKE) --no-print-directory pdf-student-only

pdf-student-only:
	$(BIN)/python tools/student_book.py --executed _build/jupyter_execute --out _build/student-book
	$(BIN)/jupyter-book build _build/student-book --builder pdflatex
	@test -f _build/student-book/_build/latex/book-student.pdf && \
	  echo "The student PDF: $(CURDIR)/_build/student-book/_build/latex/book-student.pdf"

# Both PDFs build, and hold every chapter, the bibliography, the figures and no unresolved reference.
test-pdf: $(STAMP)
	$(MAKE) pdf STUDENT=1
	KL_BOOK_REQUIRE_PDF=1 $(BIN)/python -m pytest -q -p no:cacheprovider tests/test_pdf.py

# As root (containers, course servers, CI) Jupyter refuses to start without --allow-root.
lab: $(STAMP)
	@echo "JupyterLab on book/: open the http://127.0.0.1:8888/lab?token=... URL it prints below (Ctrl-C to stop)"
	$(BIN)/jupyter lab book/ --no-browser $(if $(filter 0,$(shell id -u)),--allow-root,)

serve:
	@test -f _build/html/index.html || { echo "No site yet: run 'make book' first."; exit 1; }
	@echo "Serving the book on http://127.0.0.1:$(PORT)  (Ctrl-C to stop)"
	$(BIN)/python -m http.server $(PORT) --bind 127.0.0.1 --directory _build/html

student: $(STAMP)
	$(BIN)/python tools/make_student.py --out _build/student

# The nbgrader course: source/<chapter>/<chapter>.ipynb for every chapter, plus nbgrader_config.py.
# Then: cd _build/nbgrader && nbgrader generate_assignment <chapter>  (see book/instructor_guide.md).
nbgrader: $(STAMP)
	$(BIN)/python tools/nbgrader_course.py --out _build/nbgrader

# Every chapter against the newest releases that kllib's declared ranges allow, installed the way a chapter's
# install cell does (pip install "kllib[book] @ ...", here from this checkout) into a throwaway venv.
# torch stays at 2.13.0 (the CPU build; an unpinned torch pulls GBs of CUDA). LATEST_VENV=... to reuse one.
LATEST_VENV ?= _build/latest-venv
test-latest:
	rm -rf $(LATEST_VENV) build
	$(PYTHON) -m venv $(LATEST_VENV)
	$(LATEST_VENV)/bin/python -m pip install --quiet --no-input --upgrade pip
	$(LATEST_VENV)/bin/python -m pip install --quiet --no-input torch==2.13.0
	echo "torch==2.13.0" > $(LATEST_VENV)/torch-constraint.txt
	$(LATEST_VENV)/bin/python -m pip install --quiet --no-input --upgrade --upgrade-strategy eager \
	  -c $(LATEST_VENV)/torch-constraint.txt ".[book]" pytest pytest-xdist nbval ipykernel
	rm -rf build
	$(LATEST_VENV)/bin/python -m pip list --format=freeze > $(LATEST_VENV)/versions.txt
	@grep -iE "^(kllib|numpy|scipy|matplotlib|torch|gymnasium|scikit-learn|array.api.compat)==" $(LATEST_VENV)/versions.txt
	cd $(LATEST_VENV) && OMP_NUM_THREADS=1 bin/python -m pytest -q -n 2 --dist loadfile --nbval-lax --nbval-current-env \
	  -p no:cacheprovider --rootdir=$(CURDIR)/book $(CURDIR)/book/*.ipynb

bench: $(STAMP)
	$(BIN)/pip install --quiet -r benchmarks/requirements.txt -c constraints.txt
	$(BIN)/python benchmarks/kl_memory.py
	for env in CartPole-v1 Pendulum-v1; do \
	  out=benchmarks/results/rl_$$(echo $$env | cut -d- -f1 | tr A-Z a-z); \
	  held=$$([ $$env = CartPole-v1 ] && echo 20 || echo 10); \
	  $(BIN)/python benchmarks/rl_benchmark.py --env $$env --first-seed 0 --seeds 10 --out $$out && \
	  $(BIN)/python benchmarks/rl_benchmark.py --env $$env --first-seed 1000 --seeds $$held --out $$out && \
	  $(BIN)/python benchmarks/plot_rl.py $$out || exit 1; \
	done
	$(BIN)/python benchmarks/rl_ablation.py --first-seed 0 --seeds 10

time-notebooks: $(STAMP)
	$(BIN)/python tools/time_notebooks.py

clean:
	rm -rf _build
