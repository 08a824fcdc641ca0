#!/usr/bin/env bash
# Checks the banned-function list (STYLE.md: Tools do the nagging).
set -euo pipefail
cd "$(dirname "$0")/.."
banned='\b(sprintf|strcpy|strcat|strtok|atoi|gets|vsprintf)\s*\('
if grep -nE "$banned" src/*.c src/*/*.c src/*/*.h tests/unit/*/*.c bench/*.c 2>/dev/null | grep -v snprintf; then
  echo "lint: banned function used (see STYLE.md)" >&2
  exit 1
fi
echo "lint: ok"
