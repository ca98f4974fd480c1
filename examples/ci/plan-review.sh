#!/bin/sh
# Pull request: plan the branch's schema files against an environment's database (read only:
# nothing is applied), write the review comment, and fail when the plan needs a hazard the
# environment does not accept implicitly. Usage: plan-review.sh ENV [COMMENT_FILE]
# Exit: 0 no changes or a plan the environment accepts, 1 error or hazards not accepted.
set -eu
env_name=$1
comment=${2:-plan.md}
out=target/schemaplan-review
rm -rf "$out"
status=0
schemaplan plan --env "$env_name" --out "$out" --name review --format markdown >"$comment" || status=$?
[ "$status" -eq 0 ] || exit "$status"
if [ -d "$out" ]; then
    # The hazard gate and the from-state check of a real apply, without running anything.
    schemaplan apply --env "$env_name" --dry-run --phase all "$out" >/dev/null
fi
