# cjob: make demo runs the demo stack; make test runs every test.
GO      ?= go
BIN     ?= bin/cjob
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)

.PHONY: build demo demo-down test unit e2e bench fuzz proto vet clean screenshots payloads dist

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
# compose and a raw-API floor (N=50 jobs on 10 hosts; see cmd/cjob-bench).
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./prodspec/ ./devenv/ ./internal/plan/ ./internal/placement/ ./internal/build/ ./internal/production/ ./internal/store/ ./internal/ui/
	bash examples/coding/build-images.sh >/dev/null
	$(GO) run ./cmd/cjob-bench -n $(or $(N),50) -hosts $(or $(HOSTS),10) -rounds $(or $(ROUNDS),3)

# Screenshots of every UI page under docs/screenshots, from the browser
# tests (needs chromium).
screenshots:
	CJOB_SCREENSHOTS=1 $(GO) test -count=1 -run 'TestWebUI' -v ./internal/e2e/

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 60s ./prodspec/

# The host sandbox programs every cjob build carries (internal/sandbox/payload),
# rebuilt reproducibly from cmd/cjob-sandbox; commit the result.
payloads:
	$(GO) run ./internal/sandbox/mkpayload -o internal/sandbox/payload

proto:
	cd prodspec/legacy && $(GO) generate ./...

clean:
	rm -rf bin dist
