# micro: build, test, benchmark and code generation.
# `make help` lists the targets.

GO        ?= go
BIN       := $(CURDIR)/bin
FUZZTIME  ?= 30s
BENCHTIME ?= 3s
PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2
PROTO_FILES := $(shell find . -name '*.proto' -not -path './bin/*' -not -path './cmd/protoc-gen-micro/*')
# protoc-gen-micro's own test service, generated with it instead of go-grpc.
MICRO_PROTO_FILES := cmd/protoc-gen-micro/internal/greeterpb/greeter.proto

# Fuzz targets as package:Target.
FUZZ_TARGETS := \
	./core/transport:FuzzReadFrame \
	./core/transport:FuzzServerPartialFrames \
	./core/transport:FuzzStreamFrames \
	./core/codec:FuzzJSONUnmarshal \
	./core/codec:FuzzProtoUnmarshal \
	./core/registry/local:FuzzNodeFile \
	./core/registry/local:FuzzNames \
	./core/registry/local:FuzzSpecialFiles \
	./core/broker/direct:FuzzDeliver \
	./internal/catalog:FuzzParse \
	./core/plugin/lock:FuzzParse \
	./internal/archive:FuzzExtractTarGz \
	./internal/archive:FuzzExtractZip \
	./internal/install:FuzzParseHandshake \
	./core/plugin:FuzzDecodeSettings \
	./plugins/broker/rabbitmq:FuzzWire \
	./plugins/broker/nats:FuzzDurationJSON \
	./plugins/internal/natskv:FuzzKeyToken \
	./plugins/store/nats:FuzzKey \
	./plugins/broker/redis:FuzzEntry \
	./resolve:FuzzParse \
	./core/plugin/internal/mtls:FuzzServerTLS \
	./core/plugin/internal/wire:FuzzLinkFrame \
	./core/plugin/internal/wire:FuzzLinkCodec \
	./core/redact:FuzzURL \
	./toolkit/api:FuzzServeHTTP \
	./toolkit/sidecar:FuzzHandler \
	./toolkit/web:FuzzHandler \
	./cmd/protoc-gen-micro:FuzzRequest \
	./generator/typed:FuzzDirective \
	./generator:FuzzParseManifest

.PHONY: help setup demo test race lint fuzz bench generate check-generate tools install lint-core-deps

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

setup: ## download modules; install protoc, amqp-tools, redis-tools and chromium (Debian) and the code generators
	$(GO) mod download
	@missing=""; \
	command -v protoc >/dev/null || missing="$$missing protobuf-compiler"; \
	command -v amqp-publish >/dev/null || missing="$$missing amqp-tools"; \
	command -v redis-cli >/dev/null || missing="$$missing redis-tools"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then echo "installing Debian packages:$$missing"; \
		(apt-get update -qq && apt-get install -y -qq $$missing) >/dev/null; fi
	@$(MAKE) --no-print-directory tools

tools: ## install the pinned protobuf code generators into ./bin
	GOBIN=$(BIN) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	GOBIN=$(BIN) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)

install: ## install micro-new into $GOBIN (else $GOPATH/bin), recording this checkout as the source of its plugins
	$(GO) install -trimpath -ldflags "-X 'main.builtFrom=$(CURDIR)' -X 'main.builtRevision=$$(git rev-parse HEAD 2>/dev/null)'" ./cmd/micro-new
	@echo "micro-new builds micro's plugins from $(CURDIR); run make install again after moving the checkout"

demo: ## run the greeter example service on the embedded defaults and call it
	@$(GO) build -o $(BIN)/greeter-service ./examples/greeter/service
	@$(GO) build -o $(BIN)/greeter-client ./examples/greeter/client
	@set -e; dir=$$(mktemp -d); export MICRO_REGISTRY_DIR=$$dir; \
	$(BIN)/greeter-service & pid=$$!; \
	trap 'kill $$pid 2>/dev/null; wait $$pid 2>/dev/null; rm -rf $$dir' EXIT; \
	$(BIN)/greeter-client -name "micro"; \
	sleep 0.5

test: ## vet, then run every test with the race detector
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout=30m ./...
	$(GO) test -race -count=1 -tags micro_noplugins -run NoPlugins ./resolve/

race: test ## same as test: tests always run with -race

lint: ## gofmt, go vet, and the checks that core/ imports no plugin dependency and nothing of the module outside core/
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@deps=$$($(GO) list -deps ./core/... | grep -E 'amqp091|go-redis|nats-io|urfave/cli|sprig' || true); \
	if [ -n "$$deps" ]; then echo "core/ must stay free of plugin dependencies, found:"; echo "$$deps"; exit 1; fi
	@$(MAKE) --no-print-directory lint-core-deps
	@$(MAKE) --no-print-directory lint-noplugins

lint-core-deps: ## the check that core/ imports no package of this module outside core/
	@mod=$$($(GO) list -m); \
	deps=$$($(GO) list -deps ./core/... | grep -E "^$$mod(/|$$)" | grep -vE "^$$mod/core(/|$$)" || true); \
	if [ -n "$$deps" ]; then echo "core/ must import nothing of $$mod outside core/ (root internal/, resolve, cmd, plugins, the micro package...), found:"; echo "$$deps"; \
		echo "move the shared code below core/, or invert the dependency"; exit 1; fi

lint-noplugins: ## the check that a service built with -tags micro_noplugins links neither go-plugin nor gRPC
	@deps=$$($(GO) list -tags micro_noplugins -deps ./examples/greeter/service | grep -E '^(github.com/hashicorp/go-plugin|google.golang.org/grpc)(/|$$)' || true); \
	if [ -n "$$deps" ]; then echo "a service built with -tags micro_noplugins must not link the plugin host, found:"; echo "$$deps" | head; exit 1; fi

fuzz: ## run each fuzz target for FUZZTIME (default 30s)
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; echo "fuzz $$pkg $$name for $(FUZZTIME)"; \
		$(GO) test -run='^$$' -fuzz="^$$name$$" -fuzztime=$(FUZZTIME) $$pkg; \
	done

bench: ## benchmarks: core micro-benchmarks, broker plugins vs their raw clients, micro RPC vs grpc-go and net/rpc, micro streams vs grpc-go streams (ratio lines)
	$(GO) test -run='^$$' -bench=. -benchmem -benchtime=1s ./core/...
	$(GO) run ./bench/cmd/pluginbench
	$(GO) run ./bench/cmd/brokerbench
	$(GO) run ./bench/cmd/rpcbench -duration=$(BENCHTIME)
	$(GO) run ./bench/cmd/apibench -duration=$(BENCHTIME)
	$(GO) run ./bench/cmd/typedbench -duration=$(BENCHTIME)
	$(GO) run ./bench/cmd/streambench -duration=$(BENCHTIME)
	$(GO) run ./bench/cmd/scaffoldbench

generate: ## regenerate protobuf code with the pinned generators, and the examples' typed clients (micro-new gen)
	@test -x $(BIN)/protoc-gen-go -a -x $(BIN)/protoc-gen-go-grpc || $(MAKE) --no-print-directory tools
	@for f in $(PROTO_FILES); do \
		PATH=$(BIN):$$PATH protoc --go_out=paths=source_relative:. --go-grpc_out=paths=source_relative:. $$f; \
	done
	@$(GO) build -o $(BIN)/protoc-gen-micro ./cmd/protoc-gen-micro
	@for f in $(MICRO_PROTO_FILES); do \
		PATH=$(BIN):$$PATH protoc --go_out=paths=source_relative:. --micro_out=paths=source_relative:. $$f; \
	done
	$(GO) run ./cmd/micro-new gen ./examples/greeter/...

check-generate: generate ## fail when committed generated code is stale
	@git diff --exit-code -- $$(git ls-files '*.pb.go' '*.micro.go') || { echo "generated code is stale: run make generate and commit"; exit 1; }
