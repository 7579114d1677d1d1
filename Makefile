# Two commands do everything on a fresh machine (Python 3.10+ with pip):
#   make course   set up .venv and open the course in JupyterLab
#   make test     set up .venv and run every test (unit tests + all notebooks under nbval)
# More: make run-course (execute the whole course headless), make notebooks
# (re-execute in place to refresh stored outputs), make measure (time + memory per notebook),
# make benchmark (course_lib against Captum and pytorch-grad-cam).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup course run-course test notebooks measure benchmark clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

course: setup
	$(BIN)/jupyter lab notebooks/00_introduction.ipynb

run-course: setup
	$(BIN)/python tests/run_notebooks.py --check

test: setup
	TQDM_DISABLE=1 $(BIN)/python -m pytest --nbval --nbval-current-env \
		--nbval-sanitize-with tests/nbval_sanitize.cfg tests notebooks

notebooks: setup
	$(BIN)/python tests/run_notebooks.py --inplace

measure: setup
	$(BIN)/python tests/run_notebooks.py --check --measure

benchmark: setup
	$(BIN)/python tests/benchmark.py

clean:
	rm -rf $(VENV) _site
