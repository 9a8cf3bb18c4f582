# gostate — make targets. `make test` is what CI runs (see .ci/run and README.md).
GO       ?= go
BIN      := bin/gostate
FILL     := bin/ctfill
N        ?= 200000
STATICCHECK_VERSION := v0.8.2
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS  := -X main.version=$(VERSION)

.PHONY: build run test deps lint fuzz bench bench-1m soak listen-cost demo deb clean

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/gostate
	$(GO) build -o $(FILL) ./cmd/ctfill

# The live table of this machine (needs root or CAP_NET_ADMIN).
run: build
	./$(BIN)

# The whole suite: vet, then every test, including the real-kernel tests in
# private network namespaces (they skip, saying why, without root), under the
# race detector: the session, the screen, the source's batched reads, the
# resolver, the two-core sort and the namespace helpers all run goroutines,
# and the whole suite under -race stays well inside CI's 10 minutes on two
# cores (about two minutes). -race needs cgo and a C compiler
# (scripts/deps.sh installs gcc); RACE= runs the suite without it.
RACE ?= -race
test:
	./scripts/deps.sh
	$(GO) vet ./...
	$(GO) test -count=1 $(RACE) -timeout 15m ./...

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

# Short fuzzing runs of every fuzz test; seed corpora live in each package's
# testdata/fuzz and run as plain tests in `make test`.
FUZZTIME ?= 20s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

# Go benchmarks, then whole-process timings on a private namespace of N entries
# beside conntrack -L and iptstate (see docs/performance.md).
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./...
	N=$(N) ./scripts/bench.sh

# One million entries: raises the global nf_conntrack_max for the run and
# restores it on every exit path. Never run by CI or tests.
bench-1m: build
	N=1000000 RAISE_MAX=1 ./scripts/bench.sh

# The live screen left alone for MINUTES on a private namespace of N entries
# (100,000 unless N is given) with CHURN new and CHURN gone a second: RSS,
# threads and CPU per minute, and whether they stayed flat within 10 %.
# TRAFFIC=tcp churns with CHURN real loopback TCP connections a second
# instead (ctfill --tcp-churn), the N entries left in place.
CHURN   ?= 2000
MINUTES ?= 10
TRAFFIC ?= synthetic
SOAK_N  := $(if $(filter command line environment,$(origin N)),$(N),100000)
soak: build
	N=$(SOAK_N) CHURN=$(CHURN) MINUTES=$(MINUTES) TRAFFIC=$(TRAFFIC) ./scripts/soak.sh

# What listening to conntrack events costs the packet path: a private
# namespace of N entries (200,000 unless N is given) with CHURN real loopback
# TCP connections a second (1,000 unless CHURN is given), and PAIRS pairs of
# PHASE-second phases with gostate's live screen on it and without: the
# machine's CPU (user, system, softirq, busy), the churn's and gostate's per
# phase, the medians and their differences (see scripts/listen-cost.sh).
# The table holds about N + CHURN x REAP entries (each connection's entry is
# deleted REAP = 10 s after it closed); above 90 % of nf_conntrack_max it
# refuses unless RAISE_MAX=1, which raises the limit for the run and
# restores it. Run it on a quiet machine: other work shows in its rest
# column.
PHASE      ?= 60
PAIRS      ?= 3
COST_CHURN := $(if $(filter command line environment,$(origin CHURN)),$(CHURN),1000)
listen-cost: build
	N=$(N) CHURN=$(COST_CHURN) PHASE=$(PHASE) PAIRS=$(PAIRS) ./scripts/listen-cost.sh

# Opens gostate on a private namespace filled with N synthetic entries.
demo: build
	N=$(N) ./scripts/demo.sh

# The Debian package, bin/gostate_VERSION_ARCH.deb: the binary (static, no
# cgo), a man page and a bash completion made from its --help, the
# exporter's systemd unit and the alert rules as an example. nfpm (pinned in
# scripts/mkdeb/go.mod, a module of its own so that its dependencies stay
# out of gostate's) builds it. VERSION is the tag at HEAD without its v,
# else 0.0~gitYYYYMMDD.SHORTSHA (the commit's date and hash): dpkg wants a
# digit first, and ~ sorts every snapshot before a first release.
deb:
	mkdir -p bin
	cd scripts/mkdeb && $(GO) test . && $(GO) build -o ../../bin/mkdeb .
	DEBVERSION=$$(bin/mkdeb -print-version -root .) && \
		CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X main.version=$$DEBVERSION" -o bin/deb/gostate ./cmd/gostate && \
		bin/mkdeb -bin bin/deb/gostate -root . -out bin -version "$$DEBVERSION"

clean:
	rm -rf bin
