# Developer entry points. CI runs .ci/run, which uses the same targets'
# commands. Heavy targets take the shared lock when one is set up
# (HEAVY_LOCK=/tmp/extmetrics-heavy.lock make test); by default they run
# directly.

# The three Go modules of README's test command, and any nested module
# added later (every directory with a go.mod, except the tools module).
MODULES := $(shell git ls-files | grep -E '(^|/)go\.mod$$' | grep -v '^tools/' | xargs -n1 dirname)
FUZZTIME ?= 10s
BENCHTIME ?= 1s
HEAVY_LOCK ?=
LOCK := $(if $(HEAVY_LOCK),flock $(HEAVY_LOCK),)

.PHONY: test test-short e2e lint fuzz bench e2e-binaries modules

## test: README's test command (every module, -race)
test: e2e-binaries
	$(LOCK) go test -race ./...
	cd plugins/argo-rollouts && $(LOCK) go test -race -timeout 45m ./...
	cd test/flaggerwebhook && $(LOCK) go test -race -timeout 30m ./...
	cd test/flaggercontroller && $(LOCK) go test -race -timeout 30m ./...

## test-short: the main module's tests without -race and without the slow
## end-to-end packages (test/e2e, the Argo controller, Flagger's client)
test-short:
	go test -short $$(go list ./... | grep -v /test/e2e)
	cd plugins/argo-rollouts && go test -short ./metricplugin ./cmd/...

## e2e: the end-to-end tests (real kube-apiserver, the Argo controller,
## Flagger's webhook client, the Flagger controller)
e2e: e2e-binaries
	$(LOCK) go test -race ./test/e2e/...
	cd plugins/argo-rollouts && $(LOCK) go test -race -timeout 45m ./e2e/...
	cd test/flaggerwebhook && $(LOCK) go test -race -timeout 30m ./...
	cd test/flaggercontroller && $(LOCK) go run ./cmd/flagger-controller && $(LOCK) go test -race -timeout 30m ./...

## e2e-binaries: kube-apiserver and etcd for the e2e harness (cached)
e2e-binaries:
	go run ./test/e2e/cmd/e2e-binaries

## lint: golangci-lint (version pinned in tools/golangci-lint/go.mod, built
## once into ~/.cache/extmetrics/tools) on every module, then gofmt
lint:
	@bin=$$(.ci/golangci-lint) && for m in $(MODULES); do \
		echo "== golangci-lint $$m"; (cd $$m && $(LOCK) $$bin run ./...) || exit 1; \
	done
	@bad=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$bad" ]; then echo "gofmt would change:"; echo "$$bad"; exit 1; fi

## fuzz: every fuzz target of the main module for FUZZTIME (default 10s)
fuzz:
	FUZZTIME=$(FUZZTIME) .ci/fuzz

## bench: the benchmarks (BENCHTIME each); numbers go to docs/performance.md
bench:
	$(LOCK) go test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./pkg/...
	cd plugins/argo-rollouts && $(LOCK) go test -run '^$$' -bench 'BenchmarkProviderQuery|BenchmarkPluginRun' -benchmem -benchtime $(BENCHTIME) ./cmd/...

## modules: the modules lint and CI cover
modules:
	@echo $(MODULES)
