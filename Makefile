# swiftlet: `make run` starts the server with the embedded defaults (pebble in ./data, port 6020);
# `make test` installs what the tests need (Go modules, npm packages from committed lock files) and
# runs every test.

GO      ?= go
BIN     := bin/swiftlet
NPM_DIRS := conformance scripts/socketio scripts/deepstream
export GOTOOLCHAIN := local

.PHONY: all build run test test-go deps npm-deps lint vet fmt bench bench-quick fuzz clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/swiftlet

run: build
	./$(BIN) start

deps:
	$(GO) mod download

# npm ci from the committed lock files; skipped where node_modules is already in step with the lock.
npm-deps:
	@for d in $(NPM_DIRS); do \
	  if [ -f $$d/package-lock.json ]; then \
	    if [ ! -f $$d/node_modules/.package-lock.json ] || ! cmp -s $$d/package-lock.json $$d/.npm-ci-stamp; then \
	      echo "npm ci in $$d"; (cd $$d && npm ci --no-audit --no-fund --loglevel=error) && cp $$d/package-lock.json $$d/.npm-ci-stamp; \
	    fi; \
	  fi; \
	done

test: deps npm-deps lint build
	SWIFTLET_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -timeout 20m ./...
	$(GO) test -count=1 -race -timeout 10m ./fanout/ ./loop/ ./store/...
	$(GO) test -count=1 -race -timeout 10m -run 'Race' ./server/

lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

# The full latency matrix against all three targets (takes a while; see README).
bench: build npm-deps
	./$(BIN) bench -targets swiftlet,socketio,deepstream -rows all -swiftlet-bin $(CURDIR)/$(BIN) -label full-$$(date -u +%Y%m%d-%H%M%S)

# The small rows only: fast enough to run as a smoke test.
bench-quick: build npm-deps
	./$(BIN) bench -targets swiftlet,socketio,deepstream -rows quick -swiftlet-bin $(CURDIR)/$(BIN) -label quick-$$(date -u +%Y%m%d-%H%M%S)

# Go micro-benchmarks of the hot paths.
gobench:
	$(GO) test -run '^$$' -bench . -benchmem ./frame/ ./loop/ ./fanout/ ./store/... ./valve/ ./server/

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime 30s ./frame/

clean:
	rm -rf bin
