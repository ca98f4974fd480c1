#!/bin/sh
# Scheduled drift check: exit 0 in sync, 2 drifted (the report says what differs), 1 error.
# Usage: drift.sh ENV [REPORT_FILE]
set -eu
env_name=$1
report=${2:-drift.md}
schemaplan drift --env "$env_name" --format markdown >"$report"
