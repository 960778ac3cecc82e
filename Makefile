# funnel — build, test, run and benchmark the pipeline.
#
# The two commands a newcomer needs (see README.md):
#   make run    the main job on a local Azurite, no Azure account
#   make test   every test, with the services it needs started and stopped
#
# Variables may be set on the command line: make bench-queue SF=1 CHUNKS=10

GO      ?= go
NPM     ?= npm
ARCH    ?= $(shell $(GO) env GOARCH)
ARCHS   ?= amd64 arm64
BIN     := bin
DIST    := dist
STAGES  := partition aggregate merge
FUNNEL  := $(BIN)/funnel

export CGO_ENABLED := 0

.PHONY: all deps build build-funnel package test test-short vet vet-arm64 fmt run bench bench-queue bench-blob clean

all: build

## deps: install the pinned Azurite (npm ci) and download Go modules
deps: infra/node_modules/.installed
	$(GO) mod download

infra/node_modules/.installed: infra/package.json infra/package-lock.json
	cd infra && $(NPM) ci --no-audit --no-fund --loglevel=error
	touch $@

## build: the funnel CLI for this machine and the three handler binaries for each of ARCHS
build-funnel:
	$(GO) build -o $(FUNNEL) ./cmd/funnel

build: build-funnel
	@for arch in $(ARCHS); do for s in $(STAGES); do \
		echo "go build $$s linux/$$arch"; \
		GOOS=linux GOARCH=$$arch $(GO) build -trimpath -ldflags='-s -w' -o $(BIN)/linux-$$arch/$$s ./cmd/$$s || exit 1; \
	done; done

## package: one deployable folder and zip per app and architecture under dist/apps
package: build
	$(FUNNEL) package -bin $(BIN) -out $(DIST)/apps -arch $(shell echo $(ARCHS) | tr ' ' ',')

## run: the main job on a local Azurite: generate SF (default 1), split it into
## CHUNKS blobs (100), run a job over each transport, check the answers. Only
## this machine's architecture is built for it. Extra flags: RUN_FLAGS="--keep"
SF        ?= 1
CHUNKS    ?= 100
RUN_FLAGS ?=
run: ARCHS = $(ARCH)
run: deps build package
	$(FUNNEL) run --apps $(DIST)/apps/linux-$(ARCH) --sf $(SF) --chunks $(CHUNKS) $(RUN_FLAGS)

## vet: static checks
vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

## vet-arm64: every package cross-compiles and vets for linux/arm64. No
## Azure Functions plan runs arm64, but the handlers must keep building and
## running there (the arm64 end-to-end test runs them under qemu).
vet-arm64:
	GOOS=linux GOARCH=arm64 $(GO) build ./...
	GOOS=linux GOARCH=arm64 $(GO) vet ./...

## test: everything, on a real Azurite started by the tests themselves
test: deps vet vet-arm64
	$(GO) test -count=1 -timeout 20m ./...

## test-short: the unit tests only (no Azurite, no end-to-end)
test-short:
	$(GO) test -short ./...

## bench-queue, bench-blob: benchmark one transport on a fresh local stack
## per configuration and write a report to $(BENCH_OUT)/<date>-<transport>/;
## bench: both transports and their comparison (<date>-comparison). The
## sweeps, both transports each: bench-batch (1, 5, 10, 20, 50, 100, 250, 500
## chunks), bench-scale (1, 2, 4 instances per app), bench-size (SF 1, 10, 40);
## bench-5gb (below) the predecessor's 5 GB experiment.
## Variables: SF (10 for the benchmarks), CHUNKS (100), UNIT_MB (0: as
## partition picks it for a job that names none, from the input size),
## INSTANCES (1), REPS (5), WARMUP (1), ARCH (this machine's; arm64 on an
## amd64 machine runs under qemu-aarch64-static, timings marked emulated),
## BENCH_OUT (bench/results), BENCH_FLAGS (more `funnel bench` flags, e.g.
## --note "..."). Generated data is cached in ~/.cache/funnel/bench.
BENCH_SF    = $(if $(filter file,$(origin SF)),10,$(SF))
UNIT_MB     ?= 0
INSTANCES   ?= 1
REPS        ?= 5
WARMUP      ?= 1
BENCH_OUT   ?= bench/results
BENCH_FLAGS ?=
BENCH       = $(FUNNEL) bench --unit-mb $(UNIT_MB) --reps $(REPS) --warmup $(WARMUP) --arch $(ARCH) --out $(BENCH_OUT) $(BENCH_FLAGS)

.PHONY: bench-batch bench-scale bench-size bench-5gb
bench bench-queue bench-blob bench-batch bench-scale bench-size bench-5gb: ARCHS = $(ARCH)

bench-queue: deps build package
	$(BENCH) --transport queue --sf $(BENCH_SF) --chunks $(CHUNKS) --instances $(INSTANCES)

bench-blob: deps build package
	$(BENCH) --transport blob --sf $(BENCH_SF) --chunks $(CHUNKS) --instances $(INSTANCES)

bench: deps build package
	$(BENCH) --transport both --sf $(BENCH_SF) --chunks $(CHUNKS) --instances $(INSTANCES)

bench-batch: deps build package
	$(BENCH) --transport both --sweep batch --sf $(BENCH_SF) --instances $(INSTANCES)

bench-scale: deps build package
	$(BENCH) --transport both --sweep scale --sf $(BENCH_SF) --chunks $(CHUNKS)

bench-size: deps build package
	$(BENCH) --transport both --sweep size --chunks $(CHUNKS) --instances $(INSTANCES)

## bench-5gb: the Java predecessor's experiment, SF 200 (about 5 GB) in 500
## chunks, both transports, one run each (REPS=1 WARMUP=0 unless given);
## report in $(BENCH_OUT)/<date>-5gb/ (or the --label BENCH_FLAGS gives) with the predecessor's published
## figures in its notes. Needs about 11 GB in the cache folder.
PREDECESSOR_NOTE = The Java predecessor on the same experiment (5 GB in 500 chunks, published figures): 366 s over queues and 780 s over blobs locally; 102-184 s and 125-157 s on Azure.
bench-5gb: REPS = 1
bench-5gb: WARMUP = 0
bench-5gb: deps build package
	$(BENCH) --transport both --sf 200 --chunks 500 --instances $(INSTANCES) --note "$(PREDECESSOR_NOTE)" $(if $(findstring --label,$(BENCH_FLAGS)),,--label 5gb)

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf $(BIN) $(DIST)
