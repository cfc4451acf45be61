# geobayes: two commands.  `make demo` sets up .venv and runs the demo;
# `make test` sets up .venv and runs the test suite.
VENV    := .venv
VPY     := $(VENV)/bin/python
STAMP   := $(VENV)/.installed

.PHONY: demo test bench lint clean

$(VPY):
	@py="$$(sh tools/find_python.sh)" || exit 1; \
	echo "creating $(VENV) with $$py"; \
	"$$py" -m venv $(VENV)

$(STAMP): pyproject.toml | $(VPY)
	$(VPY) -m pip install --quiet --upgrade pip
	$(VPY) -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/geobayes demo

test: $(STAMP)
	$(VPY) -m pytest -q -p no:cacheprovider

bench: $(STAMP)
	$(VENV)/bin/geobayes bench

lint: $(STAMP)
	$(VPY) -m ruff check geobayes tests benchmarks

clean:
	rm -rf $(VENV) build *.egg-info
