# Calipso Tracking: build, generate, test. GNU make; recipes are indented
# with tabs. `make test` is the one command that CI (.ci/run) and the README
# run.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build
.DELETE_ON_ERROR:

export PATH := /usr/local/go/bin:$(PATH)

GO        ?= go
BIN       := bin/calipso
NPM_STAMP := node_modules/.package-lock.json

# Generated files that are committed. check-generated fails when
# `make generate` changes any of them, or creates one git does not track.
GENERATED_RE := (_templ\.go|^static/css/app\.css|^static/js/[^/]*\.min\.js)$$

# Vendored browser files: destination <- source in node_modules.
VENDOR := static/js/htmx.min.js:node_modules/htmx.org/dist/htmx.min.js \
          static/js/ws.min.js:node_modules/htmx-ext-ws/dist/ws.min.js

# Fuzz smoke targets run by `make test` (and `make fuzz`), each as
# PACKAGE_DIR:FuzzName, e.g. ./tracking:FuzzParseStatus. Add yours here.
FUZZ_TARGETS ?= ./tracking:FuzzDepartureFormParse ./tracking:FuzzCheckReason ./tracking:FuzzTransitions \
                ./tracking:FuzzParseID ./web:FuzzDepartureFormPost ./messaging:FuzzDecodeDelivery
FUZZTIME     ?= 5s

# staticcheck from the Go module proxy (checked to work with Go 1.26.8).
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all generate templ vendor css check-generated build services run \
        test vet fuzz bench screenshots fmt lint clean help

all: generate build

help:
	@echo 'make run              start services, then the app on http://localhost:8080 (demo data, moving)'
	@echo 'make test             check generated files, start services, go vet, go test, fuzz smoke'
	@echo 'make build            go build -o $(BIN) ./cmd/calipso (needs no Node)'
	@echo 'make generate         templ + vendored htmx + Tailwind CSS (needs Node/npm)'
	@echo 'make check-generated  fail if generate changes committed files'
	@echo 'make services         make PostgreSQL, Redis and RabbitMQ reachable on loopback'
	@echo 'make screenshots      regenerate docs/board.png and docs/departures.png (chromium)'
	@echo 'make fmt | lint | bench | fuzz | clean'

## ---- generated files --------------------------------------------------

generate: templ vendor css

templ:
	$(GO) tool templ generate -log-level warn

# Reinstall node_modules only when the lock file or package.json is newer
# than npm's own record of the last install.
$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

# Copies only when the content differs, so a second run touches nothing.
vendor: $(NPM_STAMP)
	@for pair in $(VENDOR); do \
		dst=$${pair%%:*}; src=$${pair#*:}; \
		if ! cmp -s "$$src" "$$dst"; then cp "$$src" "$$dst"; echo "vendored $$src -> $$dst"; fi; \
	done

# Built into a temporary file and moved only when it differs.
css: $(NPM_STAMP)
	@tmp=$$(mktemp static/css/.app.css.XXXXXX); \
	trap 'rm -f "$$tmp"' EXIT; \
	NODE_ENV=production BROWSERSLIST_IGNORE_OLD_DATA=1 npx --no-install tailwindcss \
		-c tailwind.config.js -i static/src/app.css -o "$$tmp" --minify 2>&1 \
		| { grep -v -e '^$$' -e '^Rebuilding' -e '^Done in' -e 'No utility classes were detected' -e 'tailwindcss.com/docs/content-configuration' || true; }; \
	test -s "$$tmp"; \
	if ! cmp -s "$$tmp" static/css/app.css; then mv "$$tmp" static/css/app.css; chmod 644 static/css/app.css; echo "built static/css/app.css"; fi

check-generated: generate
	@changed=$$(git status --porcelain --untracked-files=all -- static views ':(glob)**/*_templ.go' \
		| awk '{ print $$NF }' | grep -E '$(GENERATED_RE)' | sort -u || true); \
	if [ -n "$$changed" ]; then \
		echo 'Generated files are stale or not committed:' >&2; \
		echo "$$changed" | sed 's/^/    /' >&2; \
		echo 'Run `make generate` and commit them.' >&2; \
		git --no-pager diff --stat -- $$changed >&2 || true; \
		exit 1; \
	fi; \
	echo 'generated files are up to date'

## ---- build and run ----------------------------------------------------

build:
	$(GO) build -o $(BIN) ./cmd/calipso

services:
	@scripts/services.sh

run: services
	$(GO) run ./cmd/calipso serve --demo --simulate

## ---- tests ------------------------------------------------------------

# Integration tests use the real services on loopback, so they are started
# (or found running) first.
test: check-generated services vet
	$(GO) test ./... -count=1 -timeout 15m
	@$(MAKE) --no-print-directory fuzz

vet:
	$(GO) vet ./...

# Each fuzz target runs alone for FUZZTIME: a smoke test, not a campaign. Minimising a new
# input is capped, or it can eat the whole FUZZTIME of a target that writes to a database.
fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t#*:}; \
		echo "fuzz $$pkg $$name ($(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 1s "$$pkg"; \
	done

# Placeholder: packages add benchmarks; narrow with BENCH=Regexp PKG=./store/...
BENCH ?= .
PKG   ?= ./...
bench:
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem $(PKG)

# The README's pictures, from demo data in headless chromium: docs/board.png
# (a wall screen at 1920x1080) and docs/departures.png (the dispatcher's list).
screenshots: services
	$(GO) test -tags screenshots -run '^TestScreenshots$$' -count=1 -v ./cmd/calipso

## ---- formatting and linting -------------------------------------------

GO_FILES = git ls-files --cached --others --exclude-standard -- '*.go'

fmt:
	$(GO_FILES) | xargs -r gofmt -w
	$(GO) tool templ fmt views

lint:
	@unformatted=$$($(GO_FILES) | xargs -r gofmt -l); \
	if [ -n "$$unformatted" ]; then echo 'gofmt -l reports:' >&2; echo "$$unformatted" >&2; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

clean:
	rm -rf bin
