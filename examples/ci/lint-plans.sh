#!/bin/sh
# Pull request: every committed plan directory still reads as apply reads it, and no step's
# header hides what its SQL does (no database needed). Usage: lint-plans.sh [PLANS_DIR]
set -eu
plans=${1:-plans}
for d in "$plans"/*/; do
    [ -f "$d/plan.sql" ] || continue
    schemaplan lint "$d"
done
