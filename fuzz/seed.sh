#!/usr/bin/env bash
# Seeds the schema_loader corpus (fuzz/corpus/schema_loader, not committed) with every schema
# file of the repository: fixtures/**/*.sql and schema/**/*.sql, plus the corpus of
# ../shared when present. Files are named by content hash, so re-running adds only new ones.
set -euo pipefail
cd "$(dirname "$0")/.."
out=fuzz/corpus/schema_loader
mkdir -p "$out"
find fixtures schema ../shared/corpus -name '*.sql' -type f 2>/dev/null | while read -r f; do
    cp "$f" "$out/$(sha1sum "$f" | cut -c1-40)"
done
echo "$(ls "$out" | wc -l) files in $out"
