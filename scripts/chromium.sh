#!/usr/bin/env bash
# Makes sure a Chromium is there for the browser tests of the web page
# (cmd/dprop/ui_browser_test.go): the one DPROP_CHROMIUM names, one on PATH,
# or else Debian's chromium package, installed now. .ci/run calls it, as the
# end-to-end tests install the nats CLI they need. Prints the browser's path.
set -euo pipefail
if [ -n "${DPROP_CHROMIUM:-}" ]; then
	[ -x "$DPROP_CHROMIUM" ] || { echo "DPROP_CHROMIUM=$DPROP_CHROMIUM is not an executable" >&2; exit 1; }
	echo "$DPROP_CHROMIUM"
	exit 0
fi
for name in chromium chromium-browser google-chrome google-chrome-stable; do
	if command -v "$name" >/dev/null; then
		command -v "$name"
		exit 0
	fi
done
sudo=""
if [ "$(id -u)" -ne 0 ]; then
	sudo="sudo"
fi
echo "installing Debian's chromium for the browser tests (apt-get)" >&2
$sudo apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium >&2
command -v chromium
