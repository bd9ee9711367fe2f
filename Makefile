# panka — see README.md. Tools (Pulumi CLI, versitygw, dynalite) are installed
# into .tools/ (git-ignored) by tools/install.sh and reused.
SHELL := /bin/bash
export PULUMI_SKIP_UPDATE_CHECK := true
export PATH := $(CURDIR)/bin:$(CURDIR)/.tools/bin:$(PATH)

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
DATE    ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := -s -w -X panka.dev/panka/cmd/panka/internal/cli.version=$(VERSION) \
	-X panka.dev/panka/cmd/panka/internal/cli.commit=$(COMMIT) \
	-X panka.dev/panka/cmd/panka/internal/cli.date=$(DATE)
GOTEST_FLAGS ?= -count=1 -timeout 45m
# The race detector runs on every package that does not link the Pulumi SDK
# (the concurrency lives there: state CAS, leases, change detection, the
# CLI); the Pulumi-linked packages (targets, runner, engine host) run without
# it, since instrumenting pulumi-aws costs more CI time than it finds.
PULUMI_PKGS := deployer/target|deployer/pulumirun|deployer/engine/host|cmd/panka-engine
RACE_PKGS = $(shell go list ./... | grep -v -E '$(PULUMI_PKGS)')
PLAIN_PKGS = $(shell go list ./... | grep -E '$(PULUMI_PKGS)')

.PHONY: all build test lint bench tools servers demo clean fuzz

all: build

build:
	go build -ldflags '$(LDFLAGS)' -o bin/panka ./cmd/panka
	go build -ldflags '-s -w' -o bin/panka-engine ./cmd/panka-engine
	cd deployer/pankalocal && go build -o ../../bin/pulumi-resource-pankalocal .

tools:
	tools/install.sh

test: build tools
	tools/testservers.sh run -- bash -c 'go test -race $(GOTEST_FLAGS) $(RACE_PKGS) && go test $(GOTEST_FLAGS) $(PLAIN_PKGS) && (cd deployer/pankalocal && go test $(GOTEST_FLAGS) ./...)'

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet ./...

bench: build tools
	tools/testservers.sh run -- go test -run '^$$' -bench . -benchmem -benchtime 3x -timeout 60m ./...

demo: build
	tools/install.sh pulumi
	tools/demo.sh

clean:
	rm -rf bin
