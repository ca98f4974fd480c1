#!/bin/sh
# Deploy (a CI job on merge, or a Kubernetes Job / Helm pre-upgrade hook): apply every committed
# plan's PHASE, oldest first. A plan already applied is a no-op, an interrupted one resumes, and
# concurrent deploy jobs queue on schemaplan's advisory lock (--lock-wait) instead of racing.
# Usage: deploy.sh ENV PHASE [PLANS_DIR]   (PHASE: expand before the new application version
# rolls out, contract after it)
set -eu
env_name=$1
phase=$2
plans=${3:-plans}
for d in "$plans"/*/; do
    [ -f "$d/plan.sql" ] || continue
    schemaplan apply --env "$env_name" --phase "$phase" --lock-wait 600 "$d"
done
schemaplan status --env "$env_name" --plans "$plans"
