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
GOTEST_FLAGS ?= -race -count=1 -timeout 40m

.PHONY: all build test lint bench tools servers demo clean fuzz

all: build

build:
	go build -ldflags '$(LDFLAGS)' -o bin/panka ./cmd/panka
	go build -ldflags '-s -w' -o bin/panka-engine ./cmd/panka-engine
	cd deployer/pankalocal && go build -o ../../bin/pulumi-resource-pankalocal .

tools:
	tools/install.sh

test: build tools
	tools/testservers.sh run -- go test $(GOTEST_FLAGS) ./...

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
