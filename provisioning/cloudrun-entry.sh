#!/usr/bin/env bash
# The container's entry point on Cloud Run: the browser app on $PORT, models from the read-only bucket mount, the
# app's files kept across instances in the state bucket (see cloudrun_state.py for why they are copied).
#
# STABLELM_TUI_WEB_TOKEN comes from Secret Manager (`--set-secrets`), never from the image or a flag.
set -euo pipefail

: "${STABLELM_TUI_WEB_TOKEN:?the app token is missing: the service must be deployed with --set-secrets (cloudrun up)}"
preset="${STABLELM_TUI_PRESET:-ja-alpha}"
idle="${STABLELM_TUI_IDLE_MINUTES:-15}"
models="${STABLELM_TUI_MODELS_DIR:-/models}"
state="${STABLELM_TUI_STATE_DIR:-/state}"
save_every="${STABLELM_TUI_SAVE_SECONDS:-60}"
here=$(dirname "$(readlink -f "$0")")

# The bucket holds a Hugging Face hub cache (models--*/snapshots/...); reading it needs no network and no token.
export HF_HUB_CACHE="$models/hub"
export HF_HUB_OFFLINE=1
export HF_HOME="${HOME}/.cache/huggingface"
local_root="${HOME}/.stablelm-tui"
export STABLELM_TUI_DATA_DIR="$local_root/data"
export STABLELM_TUI_CONFIG_DIR="$local_root/config"

sync_state() { # $1: restore or save
    [[ -d "$state" ]] || return 0
    local kind
    for kind in data config; do
        if [[ "$1" == restore ]]; then
            python3 "$here/cloudrun_state.py" restore "$state/$kind" "$local_root/$kind" || true
        else
            python3 "$here/cloudrun_state.py" save "$local_root/$kind" "$state/$kind" || true
        fi
    done
}

sync_state restore
stablelm-tui web --preset "$preset" --host 0.0.0.0 --port "${PORT:-8080}" \
    --token-env STABLELM_TUI_WEB_TOKEN --idle-minutes "$idle" &
app=$!

# Cloud Run sends SIGTERM and waits 10 seconds before it ends the instance: stop the app, save, leave.
# shellcheck disable=SC2329 # called by the trap below
stop() {
    kill -TERM "$app" 2>/dev/null || true
    wait "$app" || true
    sync_state save
    exit 0
}
trap stop TERM INT

while kill -0 "$app" 2>/dev/null; do
    sleep "$save_every" &
    wait $! || true
    sync_state save
done
status=0
wait "$app" || status=$?
sync_state save
exit "$status"
