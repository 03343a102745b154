#!/usr/bin/env bash
# The container's entry point on Cloud Run: the browser app on $PORT, models from the read-only bucket mount.
#
# STABLELM_TUI_WEB_TOKEN comes from Secret Manager (`--set-secrets`), never from the image or a flag.
set -euo pipefail

: "${STABLELM_TUI_WEB_TOKEN:?the app token is missing: the service must be deployed with --set-secrets (cloudrun up)}"
preset="${STABLELM_TUI_PRESET:-ja-alpha}"
idle="${STABLELM_TUI_IDLE_MINUTES:-15}"

# The bucket holds a Hugging Face hub cache (models--*/snapshots/...); reading it needs no network and no token.
export HF_HUB_CACHE=/models/hub
export HF_HUB_OFFLINE=1
export HF_HOME="${HOME}/.cache/huggingface"

exec stablelm-tui web --preset "$preset" --host 0.0.0.0 --port "${PORT:-8080}" \
    --token-env STABLELM_TUI_WEB_TOKEN --idle-minutes "$idle"
