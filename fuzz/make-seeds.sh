#!/bin/sh
# Build the fuzzing corpus seeds: every shipped profile and every file in
# seeds/extra, each prefixed with its format byte (`t` TOML, `y` YAML; the
# target reads the low bit). Output goes to corpus/profile, which
# `cargo fuzz run profile` uses and which is not committed.
set -eu
cd "$(dirname "$0")"
out=corpus/profile
mkdir -p "$out"
for f in ../profiles/* seeds/extra/*; do
	case "$f" in
	*.toml) tag=t ;;
	*.yaml | *.yml) tag=y ;;
	*) continue ;;
	esac
	{ printf %s "$tag"; cat "$f"; } >"$out/seed-$(basename "$f")"
done
printf "%s seeds in %s\n" "$(ls "$out" | wc -l)" "$out"
