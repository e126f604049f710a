# cjob: make demo runs the demo stack; make test runs every test.
GO      ?= go
BIN     ?= bin/cjob
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)

.PHONY: build demo demo-down test unit e2e bench faults fuzz proto vet clean screenshots payloads dist

build:
	$(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o $(BIN) ./cmd/cjob

# Release builds: cjob for linux, darwin and windows on amd64 and arm64
# (each carries the host sandbox for linux/amd64 and linux/arm64 engines),
# with SHA256SUMS.
PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64
dist:
	rm -rf dist && mkdir -p dist
	set -e; for p in $(PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; ext=; [ $$os = windows ] && ext=.exe; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" \
			-o dist/cjob-$(VERSION)-$$os-$$arch$$ext ./cmd/cjob; \
		echo "dist/cjob-$(VERSION)-$$os-$$arch$$ext"; \
	done
	cd dist && sha256sum cjob-* > SHA256SUMS

# Builds cjob and the demo images, then brings the whole demo production up
# on this machine's engine.
demo: build
	bash examples/coding/build-images.sh
	$(BIN) dev up -f examples/coding/jobs.yml

demo-down: build
	$(BIN) dev down -f examples/coding/jobs.yml --volumes

vet:
	$(GO) vet ./...

# Unit and end-to-end tests. End-to-end tests need a Docker engine; they
# skip loudly without one, and fail under CI=true.
test: vet
	$(GO) test -count=1 -timeout 30m ./...

unit:
	$(GO) test -count=1 -short ./...

e2e:
	$(GO) test -count=1 -timeout 30m -v ./internal/e2e/

# Go benchmarks, then the same generated stack brought up by cjob, docker
# compose (1.x, and v5 built from source by scripts/compose-v5.sh unless
# COMPOSE names one) and raw-API floors (N=50 jobs on 10 hosts; see
# cmd/cjob-bench).
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./prodspec/ ./devenv/ ./internal/plan/ ./internal/placement/ ./internal/build/ ./internal/production/ ./internal/store/ ./internal/ui/
	$(GO) test -run '^$$' -bench Server -benchtime 1x -timeout 30m ./internal/server/
	bash examples/coding/build-images.sh >/dev/null
	COMPOSE=$${COMPOSE:-$$(bash scripts/compose-v5.sh || true)} $(GO) run ./cmd/cjob-bench -n $(or $(N),50) -hosts $(or $(HOSTS),10) -rounds $(or $(ROUNDS),3)
	COMPOSE=$${COMPOSE:-$$(bash scripts/compose-v5.sh || true)} $(GO) run ./cmd/cjob-bench -onboard examples/coding/jobs.yml -rounds $(or $(ROUNDS),3)
	$(GO) test -run '^$$' -bench StagingOrchestrators -benchtime $(or $(ROUNDS),3)x -timeout 30m ./internal/e2e/

# Screenshots of every UI page under docs/screenshots, from the browser
# tests (needs chromium).
screenshots:
	CJOB_SCREENSHOTS=1 $(GO) test -count=1 -run 'TestWebUI' -v ./internal/e2e/

# Faults: production under a killed server, a stopped engine and an etcd
# cluster losing its quorum (three engines in network namespaces, a real
# three-member etcd), 100 push races and 1,000 pushes across restarts.
faults:
	CJOB_PUSHES=$(or $(PUSHES),1000) $(GO) test -count=1 -timeout 30m -v -run 'TestProductionFaults|TestPushRaces|TestManyPushesAcrossRestarts|TestClusterQuorumLostAndBack' ./internal/e2e/ ./internal/server/ ./internal/store/

# Fuzzes the jobs-file loader and the API's request decoding for
# FUZZTIME (60s) each; what the fuzzer found new is kept in the packages'
# testdata/fuzz (commit it).
FUZZTIME ?= 60s
FUZZ_TARGETS ?= ./prodspec/:FuzzParse ./internal/server/:FuzzAPIRequest
fuzz:
	set -e; cache=$$($(GO) env GOCACHE)/fuzz; mod=$$($(GO) list -m); \
	for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; pkg=$${pkg%/}; name=$${t##*:}; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg; \
		src=$$cache/$$mod/$${pkg#./}; src=$${src%/}/$$name; \
		if [ -d $$src ]; then mkdir -p $$pkg/testdata/fuzz/$$name && cp -n $$src/* $$pkg/testdata/fuzz/$$name/ 2>/dev/null || true; fi; \
		echo "$$name: $$(ls $$pkg/testdata/fuzz/$$name | wc -l) corpus files in $$pkg/testdata/fuzz/$$name"; \
	done

# The host sandbox programs every cjob build carries (internal/sandbox/payload),
# rebuilt reproducibly from cmd/cjob-sandbox; commit the result.
payloads:
	$(GO) run ./internal/sandbox/mkpayload -o internal/sandbox/payload

proto:
	cd prodspec/legacy && $(GO) generate ./...

clean:
	rm -rf bin dist
