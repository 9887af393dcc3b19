# The two commands: `make book` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# An exact torch: a range can pull a multi-GB CUDA build. Override elsewhere, e.g.
#   make test TORCH_SPEC="torch==2.5.1"
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed
# mermaid, from the npm registry, served by the site itself (book/_ext/offline_assets.py)
MERMAID_VERSION ?= 11.12.1
MERMAID := book/_vendor/mermaid/mermaid.esm.min.mjs
BOOK_HTML := book/_build/html/index.html

.PHONY: help install vendor chromium book test lab clean data exercises bench

help:
	@echo "make book   build the website into book/_build/html (executes every chapter)"
	@echo "make test   unit tests, doctests, every chapter through nbval, and the book build"
	@echo "make lab    open the chapters in JupyterLab"
	@echo "make data   regenerate data/ (the default world) and check it is unchanged"
	@echo "make exercises  write student notebooks (solutions removed) into exercises/"
	@echo "make bench  run the benchmarks (about 25 min), write benchmarks/results/*.json and SUMMARY.md"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[dev,lm]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (causalrec)" >/dev/null
	touch $(STAMP)

install: $(STAMP) chromium

# Headless Chromium for tests/test_site.py (Debian package `chromium`, with a Chinese font so
# that the glossary's screenshots are legible). Installed when missing and possible (root with
# apt-get); otherwise the browser checks are skipped, and say so.
CHROMIUM ?= $(or $(CAUSALREC_CHROMIUM),/usr/bin/chromium)
chromium:
	@if [ -x "$(CHROMIUM)" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing the Debian package chromium for the website test"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-zenhei >/dev/null; } || \
	  echo "apt-get could not install chromium: the browser checks of tests/test_site.py will be skipped"; \
	else \
	  echo "$(CHROMIUM) not found: the browser checks of tests/test_site.py will be skipped."; \
	  echo "  To run them: sudo apt-get install chromium (Debian/Ubuntu), or set CAUSALREC_CHROMIUM=/path/to/chromium"; \
	fi

# Without npm the site falls back to mermaid's CDN (diagrams then need the internet).
$(MERMAID):
	@if command -v npm >/dev/null 2>&1; then \
	  tmp=$$(mktemp -d) && (cd $$tmp && npm pack --silent mermaid@$(MERMAID_VERSION) >/dev/null) && \
	  tar -xzf $$tmp/mermaid-$(MERMAID_VERSION).tgz -C $$tmp && \
	  mkdir -p book/_vendor/mermaid/chunks && \
	  cp $$tmp/package/dist/mermaid.esm.min.mjs book/_vendor/mermaid/ && \
	  cp -r $$tmp/package/dist/chunks/mermaid.esm.min book/_vendor/mermaid/chunks/ && \
	  cp $$tmp/package/LICENSE book/_vendor/mermaid/ && rm -rf $$tmp && \
	  echo "mermaid $(MERMAID_VERSION) unpacked into book/_vendor/mermaid"; \
	else echo "npm not found: the book will load mermaid from its CDN"; fi

vendor: $(MERMAID)

book: $(STAMP) vendor
	$(BIN)/jupyter-book build book --warningiserror --keep-going
	@echo "The book is at file://$(CURDIR)/$(BOOK_HTML)"
	@echo "(serve it with: $(BIN)/python -m http.server -d book/_build/html 8000 --bind 127.0.0.1)"

test: $(STAMP) vendor chromium
	$(BIN)/python -m pytest

lab: $(STAMP)
	$(BIN)/jupyter lab book/

data: $(STAMP)
	$(BIN)/python -m causalrec simulate --out data
	git diff --exit-code -- data && echo "data/ regenerated: identical"

exercises: $(STAMP)
	$(BIN)/python -m causalrec exercises --book book --out exercises

# Benchmarks: medians of BENCH_REPEATS runs each. The MF comparison times Cornac when it imports here
# or through $CORNAC_PYTHON / /tmp/cornac-venv/bin/python (python3 -m venv /tmp/cornac-venv &&
# /tmp/cornac-venv/bin/pip install cornac). MOVIELENS=DIR (MovieLens 100K) and COAT=DIR (Coat) add the
# real-data runs beside the simulated twins (the Coat reproduction's validation grid takes about an
# hour on 2 cores; the sequence benchmark with Cornac's SASRec about 15 minutes).
BENCH_REPEATS ?= 3
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_book.py
	$(BIN)/python benchmarks/bench_training.py --repeats $(BENCH_REPEATS)
	$(BIN)/python benchmarks/bench_mf_peer.py --repeats $(BENCH_REPEATS)
	$(if $(MOVIELENS),$(BIN)/python benchmarks/bench_mf_peer.py --repeats $(BENCH_REPEATS) --movielens $(MOVIELENS))
	$(if $(MOVIELENS),$(BIN)/python benchmarks/movielens_ranking.py --movielens $(MOVIELENS))
	$(if $(MOVIELENS),$(BIN)/python benchmarks/bench_sequential.py --movielens $(MOVIELENS) --json benchmarks/results/bench_sequential.json)
	$(if $(COAT),$(BIN)/python benchmarks/reproduce_coat.py --coat $(COAT) --json benchmarks/results/reproduce_coat_real.json)
	$(BIN)/python benchmarks/bench_simulate.py --repeats $(BENCH_REPEATS)
	$(BIN)/python benchmarks/bench_dowhy.py --repeats $(BENCH_REPEATS) --refute
	-$(BIN)/python benchmarks/bench_serving.py --repeats $(BENCH_REPEATS)
	$(BIN)/python benchmarks/bench_uplift.py --json benchmarks/results/bench_uplift.json $(if $(ECONML_PYTHON),--econml-python $(ECONML_PYTHON))
	$(BIN)/python benchmarks/bench_ope.py
	$(BIN)/python benchmarks/ope_peer_obp.py
	$(BIN)/python benchmarks/summarize.py

clean:
	rm -rf book/_build .pytest_cache
