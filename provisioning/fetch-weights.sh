#!/usr/bin/env bash
# Run by Cloud Build inside the app's own image (cloudbuild-weights.yaml): download a preset's models into a
# Hugging Face hub cache under /workspace/hub, which the next build step copies to the bucket.
#
# Usage: fetch-weights.sh PRESET   (a gated model's token, when any, is in $WORKSPACE/.hf-token)
set -euo pipefail

preset="${1:?usage: fetch-weights.sh PRESET}"
workspace="${WORKSPACE:-/workspace}" # Cloud Build's shared directory between steps
export HF_HUB_CACHE="$workspace/hub"
if [[ -s "$workspace/.hf-token" ]]; then
    HF_TOKEN=$(<"$workspace/.hf-token")
    export HF_TOKEN
    rm -f "$workspace/.hf-token" # only this step needs it; nothing later in the build sees it
fi

# Hub ids of the preset's tokenizer and models (local paths and demo:* are skipped). Captured first: a failure
# inside a process substitution would go unnoticed, and an empty list would mark the upload complete.
listing=$(stablelm-tui presets --json | python -c '
import json, sys
preset = json.load(sys.stdin).get(sys.argv[1])
if preset is None:
    sys.exit(f"unknown preset {sys.argv[1]}")
names = [preset["tokenizer"], preset["base"]["model"], preset["instruct"]["model"]]
for name in dict.fromkeys(names):
    if name.count("/") == 1 and not name.startswith((".", "/", "~")) and ":" not in name:
        print(name)
' "$preset")
[[ -n "$listing" ]] || { echo "preset $preset names no model on the hub: nothing to upload" >&2; exit 1; }
mapfile -t repos <<<"$listing"

hf=$(command -v hf || command -v huggingface-cli)
for repo in "${repos[@]}"; do
    echo "downloading $repo"
    "$hf" download --quiet "$repo" >/dev/null ||
        { echo "could not download $repo (a gated model needs an accepted licence and --hf-token-secret)" >&2; exit 1; }
done
