# Keyward: the two commands a newcomer needs are `make dev` and `make test`.

SHELL      := /bin/bash
CARGO      ?= cargo
DEV_DIR    ?= .dev
DEV_LISTEN ?= 127.0.0.1:8080
BIN        := target/debug/keyward
HOST       := $(shell rustc -vV 2>/dev/null | sed -n 's/^host: //p')
# kw linked statically (glibc included; TLS is rustls): it runs on any Linux of this architecture.
KW_STATIC_FLAGS := RUSTFLAGS="-C target-feature=+crt-static"
PG_ADMIN   ?= postgres://postgres@127.0.0.1:5432/postgres
# Schemathesis (the OpenAPI fuzzer of the integration tests), pinned with hashes.
ST_VENV    := target/schemathesis
ST_VERSION := $(shell sed -n 's/^schemathesis==\([0-9.]*\).*/\1/p' tests/schemathesis/requirements.txt)
# The SCIM compliance tester and client (scim2-tester, scim2-client), pinned with hashes.
SCIM_VENV  := target/scim

export KW_TEST_PG_URL ?= $(PG_ADMIN)

.PHONY: doc-images profile kw-static help build dev test test-deps test-structure test-sqlite test-postgres test-browser test-image test-fuzz check-postgres lint fmt clean-test-dbs bench

# Root installs with apt-get directly; others through sudo. apt's and dpkg's progress lines go
# to target/apt.log (the last install's), not to the terminal: one line says what is being
# installed, and a failure prints the log's tail. target/ is made as the user who runs make
# (the $(shell) below), so a sudo install never leaves a root-owned target/ for cargo.
APT_LOG     = target/apt.log
APT_INSTALL = $(shell mkdir -p target)$(if $(filter 0,$(shell id -u)),,sudo) env DEBIAN_FRONTEND=noninteractive sh -c \
	'echo "installing with apt: $$* (log: $(APT_LOG))"; { apt-get update -qq && apt-get install -y -qq "$$@"; } >$(APT_LOG) 2>&1 || { tail -n 20 $(APT_LOG); exit 1; }' --
NPM_CI = npm ci --no-audit --no-fund --loglevel=error

help:
	@echo "make dev    start Keyward on SQLite with a key file, demo tokens and a local IdP"
	@echo "make test   run every test: unit, integration on SQLite and PostgreSQL, browser"
	@echo "make lint   rustfmt and clippy"
	@echo "make bench  release build, then the load harness on SQLite and PostgreSQL (bench/README.md)"
	@echo "make profile  perf profile of the release server under concurrent reveals (bench/profile.sh)"
	@echo "make kw-static  the members' client kw as one static binary (target/$(HOST)/release/kw)"

build:
	$(CARGO) build --locked

## dev: build, then serve on SQLite with a key file, demo tokens and a local IdP with demo users.
dev: build
	@DEV_DIR=$(DEV_DIR) DEV_LISTEN=$(DEV_LISTEN) ./deploy/dev.sh

## test: installs what the tests need, builds once, then runs every test: unit and integration
## on SQLite, integration on PostgreSQL, and the dashboard in headless Chromium.
test: check-postgres test-deps
	$(MAKE) --no-print-directory test-structure
	$(CARGO) build --locked --workspace --tests --bins
	$(MAKE) --no-print-directory test-sqlite
	$(MAKE) --no-print-directory test-postgres
	$(MAKE) --no-print-directory test-browser
	$(MAKE) --no-print-directory test-image
	$(MAKE) --no-print-directory test-fuzz

## test-deps: the OpenID Provider and playwright-core from their lockfiles; Schemathesis from
## tests/schemathesis/requirements.txt (hashes checked) into target/schemathesis; the SCIM
## tester and client from tests/scim/requirements.txt into target/scim; an independent
## Shamir implementation (tests/breakglass, npm shamir-secret-sharing, pinned); Debian's
## Chromium, rsyslog and openssl (the SIEM forwarding tests' receiver and test CA), the
## reference `age` tool (it must open the shares Keyward encrypts to custodians), `promtool`
## (Debian's prometheus: it judges the metrics' exposition format), HAProxy (it checks
## deploy/haproxy.cfg), and a
## Japanese font (for readable screenshots) when missing.
test-deps:
	@command -v node >/dev/null || { echo "Node.js (with npm) is needed for the OIDC and browser tests."; exit 1; }
	@$(ST_VENV)/bin/schemathesis --version 2>/dev/null | grep -qF "$(ST_VERSION)" || { \
		echo "installing Schemathesis $(ST_VERSION) into $(ST_VENV)"; \
		rm -rf $(ST_VENV) && python3 -m venv $(ST_VENV) && \
		$(ST_VENV)/bin/pip install -q --disable-pip-version-check --require-hashes --only-binary :all: \
			-r tests/schemathesis/requirements.txt; }
	@cmp -s tests/scim/requirements.txt $(SCIM_VENV)/requirements.txt 2>/dev/null || { \
		echo "installing the SCIM tester and client into $(SCIM_VENV)"; \
		rm -rf $(SCIM_VENV) && python3 -m venv $(SCIM_VENV) && \
		$(SCIM_VENV)/bin/pip install -q --disable-pip-version-check --require-hashes --only-binary :all: \
			-r tests/scim/requirements.txt && cp tests/scim/requirements.txt $(SCIM_VENV)/requirements.txt; }
	cd tests/oidc && $(NPM_CI)
	cd tests/browser && $(NPM_CI)
	cd tests/breakglass && $(NPM_CI)
	@test -x /usr/bin/chromium || $(APT_INSTALL) chromium
	@command -v age >/dev/null || $(APT_INSTALL) age
	@test -x /usr/sbin/rsyslogd || $(APT_INSTALL) rsyslog
	@command -v openssl >/dev/null || $(APT_INSTALL) openssl
	@command -v promtool >/dev/null || $(APT_INSTALL) prometheus
	@command -v haproxy >/dev/null || $(APT_INSTALL) haproxy
	@command -v podman >/dev/null && command -v runc >/dev/null && command -v debootstrap >/dev/null || \
		$(APT_INSTALL) podman runc debootstrap
	@fc-list 2>/dev/null | grep -qi -e ipagothic -e "noto sans cjk" || $(APT_INSTALL) fonts-ipafont-gothic || echo "note: no Japanese font; screenshots of Japanese pages will show boxes"

## test-structure: the source tree's house rules (docs/architecture.md): no import cycle between
## files, no import from a higher layer, no source file over 700 lines; and every relative
## link and anchor in README.md, bench/README.md and docs/ resolves (tests/structure/links.py).
test-structure:
	@echo "== structure: layers, cycles, file sizes (tests/structure/check.py), links (links.py)"
	python3 tests/structure/check.py
	python3 tests/structure/links.py

# Runs the workspace's unit tests and the integration suite on SQLite.
test-sqlite:
	@echo "== unit tests and integration tests on SQLite"
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		$(CARGO) nextest run --locked --workspace --no-fail-fast; \
	else \
		$(CARGO) test --locked --workspace --no-fail-fast; \
	fi

test-postgres: clean-test-dbs
	@echo "== integration tests on PostgreSQL ($(KW_TEST_PG_URL))"
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		KW_TEST_DB=postgres $(CARGO) nextest run --locked -p keyward --test it --no-fail-fast; \
	else \
		KW_TEST_DB=postgres $(CARGO) test --locked -p keyward --test it --no-fail-fast; \
	fi
	@$(MAKE) --no-print-directory clean-test-dbs

## doc-images: the manual's screenshots (docs/images/), taken by the browser tour test.
doc-images:
	cd tests/browser && KW_DOC_IMAGES=1 KW_BIN=$(CURDIR)/$(BIN) node --test tour.test.mjs

# The dashboard in real headless Chromium; screenshots land in tests/browser/screenshots/.
test-browser:
	@echo "== browser tests (Chromium: /usr/bin/chromium)"
	cd tests/browser && KW_BIN=$(CURDIR)/$(BIN) node --test --test-concurrency=1

## test-image: builds deploy/Dockerfile with podman and runs the image read-only, as uid
## 10001, with the key file from a mounted secret (tests/image/run.sh says what it checks).
test-image:
	@echo "== the container image (podman, deploy/Dockerfile)"
	$(KW_STATIC_FLAGS) $(CARGO) build --locked -p keyward-client --target $(HOST)
	$(if $(filter 0,$(shell id -u)),,sudo) env KW_BIN=$(BIN) KW_STATIC=target/$(HOST)/debug/kw tests/image/run.sh

## test-fuzz: a short run of each cargo fuzz target (fuzz/) from its corpus in the repo. The
## targets build on the stable toolchain without a sanitizer (-s none: the parsers are safe
## Rust; libFuzzer's coverage guidance is what matters). New inputs go to a temporary directory.
FUZZ_SECONDS       ?= 20
# A fixed seed keeps CI's run reproducible; `make test-fuzz FUZZ_SEED=0` explores anew.
FUZZ_SEED          ?= 1
CARGO_FUZZ_VERSION := 0.13.2
FUZZ_TARGETS       := otpauth backup_block return_to scim_filter imports qr
test-fuzz:
	@echo "== fuzz targets, $(FUZZ_SECONDS) s each: $(FUZZ_TARGETS)"
	@$(CARGO) fuzz --version 2>/dev/null | grep -qF "$(CARGO_FUZZ_VERSION)" || \
		$(CARGO) install cargo-fuzz --version $(CARGO_FUZZ_VERSION) --locked
	@for target in $(FUZZ_TARGETS); do \
		found=$$(mktemp -d); \
		(cd fuzz && $(CARGO) fuzz run -s none -O $$target $$found corpus/$$target -- \
			-max_total_time=$(FUZZ_SECONDS) -seed=$(FUZZ_SEED) -print_final_stats=0 2>&1 | grep -E '^(Done|INFO: seed corpus)|panicked|ERROR|SUMMARY' ; \
			exit $${PIPESTATUS[0]}) || { echo "fuzz target $$target failed: see fuzz/artifacts/$$target"; exit 1; }; \
		rm -rf $$found; \
	done

check-postgres:
	@pg_isready -q -d "$(KW_TEST_PG_URL)" 2>/dev/null || { \
		echo "PostgreSQL is not reachable at $(KW_TEST_PG_URL)."; \
		echo "Start it (e.g. pg_ctlcluster <version> main start) or set KW_TEST_PG_URL."; exit 1; }

# Each integration test makes its own database named kwt_*; drop them.
clean-test-dbs:
	@psql "$(KW_TEST_PG_URL)" -Atqc "SELECT datname FROM pg_database WHERE datname LIKE 'kwt\_%'" 2>/dev/null \
		| while read -r db; do psql "$(KW_TEST_PG_URL)" -qc "DROP DATABASE IF EXISTS \"$$db\"" >/dev/null 2>&1 || true; done

## bench: TOTP reveal and backup-code check-out against the /healthz baseline (bench/README.md).
## profile: installs perf and wrk (Debian's linux-perf and wrk) when missing, then profiles the
## release server under concurrent reveals: `make profile PROFILE_ARGS="DATABASE=postgres"`.
profile:
	@command -v perf >/dev/null || $(APT_INSTALL) linux-perf
	@command -v wrk >/dev/null || $(APT_INSTALL) wrk
	$(CARGO) build --release --locked -p keyward
	env $(PROFILE_ARGS) bench/profile.sh

bench: check-postgres
	$(CARGO) build --release --locked -p keyward -p keyward-bench
	target/release/keyward-bench --keyward target/release/keyward $(BENCH_ARGS)

## kw-static: the members' client as one static binary, as the container image builds it.
kw-static:
	$(KW_STATIC_FLAGS) $(CARGO) build --release --locked -p keyward-client --target $(HOST)
	@! ldd target/$(HOST)/release/kw 2>&1 | grep -q '=>' || { echo "kw is not static"; exit 1; }
	@echo "target/$(HOST)/release/kw: $$(du -h target/$(HOST)/release/kw | cut -f1)"

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all
