#!/usr/bin/env bash
# azd prepackage hook: build the funnel CLI and the linux/amd64 handler
# packages (no Azure Functions plan runs arm64) under dist/apps/linux-amd64:
# one folder and one zip per app, the handler at mode 0755.
set -euo pipefail
cd "$(dirname "$0")/../../.."

make package ARCHS=amd64
for app in partition aggregate merge; do
	zip="dist/apps/linux-amd64/$app.zip"
	if [ ! -s "$zip" ]; then
		echo "prepackage: $zip is missing after make package" >&2
		exit 1
	fi
done
echo "prepackage: dist/apps/linux-amd64/{partition,aggregate,merge}.zip ready"
