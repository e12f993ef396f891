# `make test` is the project's test command (README, .ci/run).
.PHONY: test unit acceptance build

build:
	go build -o bin/kplane ./cmd/kplane

unit:
	go test -count=1 -timeout 20m ./...

acceptance:
	bash test/acceptance.sh

test: unit acceptance
