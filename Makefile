# The two commands a new user needs (see README.md):
#   make run    local stack + demo data + gateway in the foreground
#   make test   every test, against real PostgreSQL and Redis
#   make bench  the benchmark scenarios and their ceilings, one table (docs/performance.md)
#   make bench-audit  the citizen's access log on 100,000,000 seeded audit rows
#   make bench-scale  how cost grows: with the card (1-50 drug medications) and the data (to 5,000,000 persons)
#   make soak   mixed load for 10 minutes, watching the gateway's memory
#   make fuzz   every fuzz target of the SOAP edge, 10 M executions in all
#
# Go 1.26 is expected at /usr/local/go (or on PATH); PostgreSQL and Redis
# are installed with apt-get when missing (scripts/stack.sh deps).

SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
GO ?= go
GATEWAY := bin/gateway

# axe-core (Deque, MPL-2.0), the accessibility rules the browser test checks
# every page against, from the npm registry, checked against the registry's
# sha512 (its "integrity" field, here in hex); kept under .cache/.
# Defined before any rule names it: make expands prerequisites as it reads.
AXE_VERSION := 4.14.1
AXE_SHA512 := 1477dafa598d8d065f273d6af302aa203c02e83131707b7fa648cd41bd3d6b734f8c22a0dab86ee6a6f64b8afbe804b214d36db85a2826965edfb3a0b9d546b5
AXE_JS := .cache/axe-core-$(AXE_VERSION)/axe.min.js

# node-soap (npm soap, MIT), the SOAP client Node integrators use, for
# TestInteropNode: its package.json pins the version and package-lock.json
# every dependency with its integrity; npm ci installs exactly those into
# .cache/node-soap. 1.6.1 is the newest that declares Node 18 support
# (later ones want Node 20.19), and Node 18 is Debian bookworm's.
NODE_SOAP_SRC := cmd/gateway/testdata/interop/node
NODE_SOAP_DIR := .cache/node-soap
NODE_SOAP := $(NODE_SOAP_DIR)/node_modules/.package-lock.json

.PHONY: robustness failover fuzz run test bench bench-rebalance bench-ui bench-audit bench-scale bench-standbys soak stop clean build deps test-deps go-check generate check-generated lint status

run: deps build
	@scripts/run.sh

test: deps test-deps go-check check-generated lint
	MEDCARD_AXE_JS=$(abspath $(AXE_JS)) MEDCARD_NODE_MODULES=$(abspath $(NODE_SOAP_DIR))/node_modules $(GO) test -race -count=1 -timeout 12m $$($(GO) list ./... | grep -v /internal/robustness)
	@# The robustness suite on its own, without -race: its clients then run
	@# three times faster, and it has both cores (about 3 minutes).
	$(GO) test -count=1 -timeout 10m ./internal/robustness/
	@# A few seconds of fuzzing per fuzz target (their seeds and findings
	@# ran above, in plain go test); make fuzz runs them for long.
	scripts/fuzz.sh --short

# Every fuzz target of the SOAP edge for FUZZTIME (100s) each, 10,000,000
# executions in all or it fails (scripts/fuzz.sh; docs/reliability.md,
# "Hostile input"); about 12 minutes.
fuzz: go-check
	@scripts/fuzz.sh

# Takes about four minutes; results under bench-results/ (git-ignored).
bench: deps build
	@scripts/bench.sh

# An online rebalance from 2 to 3 shard databases under half the maximum
# mixed load, 1,000,000 persons (REBAL_PERSONS); docs/operations.md.
bench-rebalance: deps build
	@scripts/bench-rebalance.sh

# The web UI's card page and inbox under 50 signed-in users, 1,000,000
# persons (UI_PERSONS, UI_USERS, UI_DURATION); docs/performance.md.
bench-ui: deps build
	@scripts/bench-ui.sh

# The citizen's access log on a seeded audit table: 100,000,000 rows over
# 25 months (AUDIT_ROWS, AUDIT_MONTHS) in a PostgreSQL server of its own,
# then GetAccessLog's page query for one person over two years, p50/p99
# and its plan (docs/performance.md, "Access log"). Seeding takes about
# half an hour and 30 GB under .cache/bench-audit, reused by the next run.
bench-audit: go-check
	@scripts/bench-audit.sh

# How cost grows (scripts/bench-scale.sh --help for the knobs): the cached
# read, the uncached read and a write against the card's size (20,000
# persons with exactly 1, 5, 20, 50 drug medications each), and the uncached
# read against the data (100,000 / 1,000,000 / 5,000,000 persons: seed time,
# bytes on disk, p50/p99); medians of 3 repeats, a table and scale.svg under
# bench-results/scale-<time>/ (docs/performance.md, "How cost grows").
# About an hour; the 5,000,000 persons need about 20 GB of disk for a while.
bench-scale: deps build
	@scripts/bench-scale.sh

# The cost of a standby's confirmation: the writes with ANY 0, then ANY 1,
# on the same stack (docs/reliability.md); about a minute and a half.
bench-standbys: deps build
	@MEDCARD_STACK_STANDBYS=1 BENCH_SCENARIOS=writes-sync scripts/bench.sh

# mixed (to find the rate), then the same mix at 80% of it for 10 minutes
# (BENCH_SOAK_DURATION), sampling RSS and Go heap; about 11 minutes.
soak: deps build
	@BENCH_SCENARIOS="mixed soak" scripts/bench.sh

build: go-check
	$(GO) build -o $(GATEWAY) ./cmd/gateway

deps:
	@scripts/stack.sh deps

# What only the tests need: python3-zeep (the strict independent SOAP client,
# cmd/gateway/testdata/zeep_client.py), redis-sentinel (the failover test),
# chromium and axe-core (the web UI's browser test and its accessibility
# rules, cmd/gateway/ui_browser_test.go), patroni and etcd-server (the
# Patroni failover test, internal/testservers/patroni_test.go), and the
# integrators' toolchains that generate clients from the served WSDL
# (cmd/gateway/interop_test.go): a JDK with JAX-WS RI's wsimport (jaxws),
# Axis 1.4 (libaxis-java), PHP's SoapClient (php-cli, php-soap) and Mono's
# wsdl, svcutil and mcs (mono-devel), and node-soap on Node (nodejs, npm;
# then npm ci, cmd/gateway/interop_node_test.go). Installing the first four
# took 11, 2, 12 and 34 s here, nodejs and npm 65 s on a bare bookworm
# (Debian's npm is 357 packages) and node-soap's npm ci 3 s, so they run in
# `make test`.
test-deps: $(AXE_JS) $(NODE_SOAP)
	@missing=""; \
	/usr/bin/python3 -c 'import zeep, lxml' 2>/dev/null || missing="$$missing python3-zeep"; \
	command -v javac >/dev/null || missing="$$missing default-jdk-headless"; \
	command -v wsimport >/dev/null || missing="$$missing jaxws"; \
	[ -f /usr/share/java/axis.jar ] || missing="$$missing libaxis-java"; \
	php -r 'exit(extension_loaded("soap") ? 0 : 1);' 2>/dev/null || missing="$$missing php-cli php-soap"; \
	{ command -v wsdl && command -v svcutil && command -v mcs; } >/dev/null || missing="$$missing mono-devel"; \
	command -v node >/dev/null || missing="$$missing nodejs npm"; \
	command -v redis-sentinel >/dev/null || missing="$$missing redis-sentinel"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v patroni >/dev/null || missing="$$missing patroni"; \
	command -v etcd >/dev/null || missing="$$missing etcd-server"; \
	if [ -n "$$missing" ]; then \
	  echo "make: installing$$missing for the tests" >&2; \
	  sudo=""; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
	  $$sudo apt-get update -qq && $$sudo apt-get install -y -qq $$missing >/dev/null; \
	fi

$(AXE_JS):
	@echo "make: fetching axe-core $(AXE_VERSION) for the browser test's accessibility check" >&2
	@command -v curl >/dev/null || { sudo=""; [ "$$(id -u)" -eq 0 ] || sudo=sudo; $$sudo apt-get update -qq && $$sudo apt-get install -y -qq curl >/dev/null; }
	@mkdir -p $(@D)
	@curl -fsSL --retry 3 -o $(@D)/axe-core.tgz https://registry.npmjs.org/axe-core/-/axe-core-$(AXE_VERSION).tgz
	@echo "$(AXE_SHA512)  $(@D)/axe-core.tgz" | sha512sum -c --quiet || { rm -f $(@D)/axe-core.tgz; echo "make: axe-core's tarball does not match its checksum" >&2; exit 1; }
	@tar -xzf $(@D)/axe-core.tgz -C $(@D) --strip-components=1 package/axe.min.js package/LICENSE
	@rm -f $(@D)/axe-core.tgz

$(NODE_SOAP): $(NODE_SOAP_SRC)/package.json $(NODE_SOAP_SRC)/package-lock.json
	@echo "make: installing node-soap (npm ci) for the node-soap interop test" >&2
	@{ command -v node && command -v npm; } >/dev/null || { sudo=""; [ "$$(id -u)" -eq 0 ] || sudo=sudo; $$sudo apt-get update -qq && $$sudo apt-get install -y -qq nodejs npm >/dev/null; }
	@rm -rf $(NODE_SOAP_DIR) && mkdir -p $(NODE_SOAP_DIR) && cp $^ $(NODE_SOAP_DIR)/
	@npm ci --no-audit --no-fund --loglevel=error --prefix $(NODE_SOAP_DIR) >/dev/null

go-check:
	@command -v $(GO) >/dev/null || { echo "make: Go 1.26 is required (expected at /usr/local/go/bin/go): https://go.dev/doc/install" >&2; exit 1; }
	@$(GO) version | grep -Eq 'go1\.(2[6-9]|[3-9][0-9])' || { echo "make: Go 1.26 or newer is required, found: $$($(GO) version)" >&2; exit 1; }

stop:
	@scripts/stack.sh stop

status:
	@scripts/stack.sh status

clean:
	@scripts/stack.sh clean
	rm -rf bin

# The test client is generated from our WSDL by gowsdl v0.5.0 (a tool
# dependency in go.mod); never edit it by hand.
generate:
	$(GO) tool gowsdl -o medcard.go -p wsdlclient -d internal wsdl/medcard.wsdl

check-generated: go-check
	@tmp=$$(mktemp -d) && trap 'rm -rf $$tmp' EXIT && \
	$(GO) tool gowsdl -o medcard.go -p wsdlclient -d $$tmp wsdl/medcard.wsdl >/dev/null && \
	diff -u internal/wsdlclient/medcard.go $$tmp/wsdlclient/medcard.go >/dev/null || \
	{ echo "make: internal/wsdlclient/medcard.go is stale: run 'make generate' and commit it" >&2; exit 1; }

lint: go-check
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "make: gofmt would change: $$out" >&2; exit 1; fi
	$(GO) vet ./...

# The robustness suite (internal/robustness, docs in its package comment):
# every fault class, each running at least ROBUSTNESS_OPS operations, then
# the seeded bugs; one summary table of all classes at the end. Failing
# runs leave reports under robustness-results/ (git-ignored).
ROBUSTNESS_OPS ?= 100000
robustness: deps go-check
	ROBUSTNESS_OPS=$(ROBUSTNESS_OPS) $(GO) test -count=1 -timeout 0 -v -run 'TestRobustness|TestSeededBugsAreCaught' ./internal/robustness/ 2>&1 | tee robustness.log | grep -E '^(=== RUN|--- |\s+--- |ok|FAIL|PASS)|caught by|unnoticed|broke a promise'; \
	status=$${PIPESTATUS[0]}; sed -n '/^robustness summary/,/^$$/p' robustness.log; exit $$status

# The failover classes alone, each fault FAILOVER_CYCLES times (ten
# failovers of the Patroni leader under load, ten returns of an old leader,
# ten partitions): the time without writes per failover, p50 and max
# (docs/reliability.md); about 12 minutes.
FAILOVER_CYCLES ?= 10
failover: deps test-deps go-check
	ROBUSTNESS_CYCLES=$(FAILOVER_CYCLES) $(GO) test -count=1 -timeout 40m -v -run 'TestRobustness/(primary-kill|old-primary-back|primary-partition)$$' ./internal/robustness/ 2>&1 | tee failover.log | grep -E '^(=== RUN|--- |\s+--- |ok|FAIL|PASS)|promoted|streams from|longest write pause|broke a promise'; \
	status=$${PIPESTATUS[0]}; sed -n '/^robustness summary/,/^$$/p' failover.log; exit $$status
