#!/usr/bin/env bash
# `vexil refs` against ripgrep (Debian's) searching the same pattern over the same tree:
# 100,000 files, 1 GB, 1,000 flags (scripts/bench-refs-tree.py). Both honour .gitignore,
# search hidden files but not .git, and skip the same excluded paths; page cache warm.
# Prints the median of 5 runs each; results go in the README.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/apt-install.sh ripgrep
cargo build --release --quiet -p vexil-publisher
VEXIL=$PWD/target/release/vexil
TREE=$PWD/target/bench-refs
if [ ! -f "$TREE/.complete" ]; then
  rm -rf "$TREE" && mkdir -p "$TREE"
  (cd "$TREE" && "$VEXIL" init . >/dev/null && rm -f config/feature_flags/beta/new_navigation_bar.yml)
  python3 scripts/bench-refs-tree.py "$TREE"
  touch "$TREE/.complete"
fi
cd "$TREE"
echo "tree: $(find app -type f | wc -l) files, $(du -sh --apparent-size app | cut -f1)"
"$VEXIL" refs --pattern >/tmp/vexil-refs-pattern
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
timed() { local s e; s=$(date +%s%N); "$@" >/dev/null; e=$(date +%s%N); echo $(((e - s) / 1000000)); }
# What vexil excludes by default: GitLab's locale/ and db/structure.sql, and its own files.
RG=(rg --no-require-git --hidden -g '!.git' -g '!locale/' -g '!db/structure.sql' -g '!/config/feature_flags/'
  -g '!/config/rollouts/' -g '!/vexil.toml' --line-number --column -f /tmp/vexil-refs-pattern .)
"${RG[@]}" >/dev/null || true; "$VEXIL" refs --json >/dev/null
vexil_ms=$(for _ in 1 2 3 4 5; do timed "$VEXIL" refs --json; done | median)
rg_ms=$(for _ in 1 2 3 4 5; do timed "${RG[@]}"; done | median)
refs=$("$VEXIL" refs --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["references"]))')
lines=$("${RG[@]}" | wc -l)
awk -v v="$vexil_ms" -v r="$rg_ms" -v n="$refs" -v l="$lines" 'BEGIN {
  printf "vexil refs: %.2f s (%s references)\nrg:         %.2f s (%s matching lines)\nratio:      %.2fx\n", v / 1000, n, r / 1000, l, v / r }'
