#!/usr/bin/env bash
# Build the dprop container image: a static binary, then a FROM scratch
# image around it (see Dockerfile). Usage:
#
#   scripts/build-image.sh [TAG]      # TAG defaults to $DPROP_IMAGE, else dprop:dev
#
# VERSION (default: git describe) is stamped into the binary.
set -euo pipefail
cd "$(dirname "$0")/.."

tag=${1:-${DPROP_IMAGE:-dprop:dev}}
version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
ctx=build/image

rm -rf "$ctx"
mkdir -p "$ctx/rootfs/data"
echo "building $ctx/dprop ($version)"
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$version" -o "$ctx/dprop" ./cmd/dprop
cp "$ctx/dprop" build/dprop

echo "building image $tag"
# The classic builder or BuildKit: the Dockerfile needs nothing from either.
# Quiet when it works (the classic builder warns that it is deprecated);
# everything it said when it fails.
if ! out=$(docker build -f Dockerfile -t "$tag" \
	--label "org.opencontainers.image.version=$version" \
	--label "org.opencontainers.image.source=https://github.com/dprop/dprop" \
	"$ctx" 2>&1); then
	echo "$out" >&2
	echo "docker build failed" >&2
	exit 1
fi
echo "built $tag"
