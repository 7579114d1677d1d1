# Two commands do everything on a fresh machine (Python 3.11+ with pip):
#   make course   set up .venv and open the course in JupyterLab
#   make test     set up .venv and run every test (unit tests + all notebooks under nbval)
# More: make run-course (execute the whole course headless), make notebooks
# (re-execute in place to refresh stored outputs on a quiet machine, then the student
# edition), make student, make site (static HTML in _site/), make measure (time + memory per
# notebook), make benchmark (course_lib against Captum and pytorch-grad-cam), make audit
# (what the prose, exercise and time guards find in every notebook), make mutants
# (plant each catalogued bug in a copy of course_lib; a unit test must fail), make evaluate
# (every attribution method through every test: the results notebooks 09–11 load).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup course run-course test notebooks student site measure benchmark audit mutants \
	train-cnn train-cnn-shuffled evaluate clean

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

# One notebook at a time, only on a quiet machine (load average, calibration), and only runs
# within the time budget are saved; FORCE=1 overrides and says what it overrode.
notebooks: setup
	$(BIN)/python tests/run_notebooks.py --inplace $(if $(FORCE),--force)
	$(BIN)/python tests/make_student_edition.py

# The student edition (notebooks/student/): solutions replaced by stubs and hints.
student: setup
	$(BIN)/python tests/make_student_edition.py

# The rendered course: static HTML of the stored outputs (no re-execution) in _site/.
site: setup
	$(BIN)/python tests/build_site.py _site

measure: setup
	$(BIN)/python tests/run_notebooks.py --check --measure

benchmark: setup
	$(BIN)/python tests/benchmark.py --notebooks

# Reports of the guards, notebook by notebook: numbers the prose quotes but no output prints,
# comparisons without an assert, exercises without an honest checker, disagreeing times.
audit: setup
	-$(BIN)/python tests/truth.py
	-$(BIN)/python tests/exercises.py
	-$(BIN)/python tests/course_times.py

# Mutation testing (not part of `make test`): each bug of tests/mutants/*.py is planted in a
# temporary copy of course_lib and its named unit tests must fail. Select with
# MUTANTS_ARGS, e.g. make mutants MUTANTS_ARGS="--topic cam occlusion" or "-k fill".
mutants: setup
	TQDM_DISABLE=1 $(BIN)/python tests/mutate.py $(MUTANTS_ARGS)

# Retrain the small CNN of notebook 07 on the synthetic shapes (about 1.5 min on 2 idle CPU cores);
# writes course_lib/models/weights/small_cnn.pt and prints its test accuracy and SHA-256.
train-cnn: setup
	$(BIN)/python -m course_lib.models.train_cnn --train

# The small CNN trained on shuffled labels, for the data-randomization test of notebook 09
# (about 1–2 min on two idle cores); writes course_lib/models/weights/small_cnn_shuffled.pt.
train-cnn-shuffled: setup
	$(BIN)/python -m course_lib.models.train_cnn --train --shuffled

# Every method through every test (notebooks 09–11): writes notebooks/results/benchmark_*.npz
# and benchmark_summary.csv (about 20–30 min on two idle cores; --estimate prints the estimate).
evaluate: setup
	$(BIN)/python -m course_lib.evaluation.benchmark

clean:
	rm -rf $(VENV) _site
