#!/usr/bin/env bash
# stablelm-tui-session: what `provisioning/vm ssh` runs on the VM (installed as /usr/local/bin/stablelm-tui-session
# by the startup script's first steps, so it is there even when a later step fails).
#
# Attaches to the tmux session "stablelm-tui" if it exists, else starts it with the TUI inside. A dropped
# SSH connection only detaches: the TUI, its conversation and the loaded model keep running.
# Inside tmux (--inside) it waits for the setup to finish, showing its log, then runs the TUI; when the
# TUI exits it leaves a shell so the window does not vanish. A failed setup is explained in one sentence with
# the last lines of its log (without tmux too: tmux may be what failed to install).
set -euo pipefail

SESSION=stablelm-tui
PREFIX="${STABLELM_TUI_PREFIX:-}"
ENV_FILE="$PREFIX/etc/stablelm-tui/env"
READY="$PREFIX/var/lib/stablelm-tui/ready"
FAILED="$PREFIX/var/lib/stablelm-tui/failed"
LOG="$PREFIX/var/log/stablelm-tui-setup.log"

explain_failure() {
    echo "Setup failed: $(cat "$FAILED")"
    echo "Last lines of $LOG:"
    tail -n 15 "$LOG" 2>/dev/null | sed 's/^/  /' || true
    echo "Fix the cause, then run the setup again: sudo google_metadata_script_runner startup"
}

if [[ "${1:-}" != --inside ]]; then
    if ! command -v tmux >/dev/null 2>&1; then
        [[ -e "$FAILED" ]] && explain_failure
        echo "tmux is not installed (yet), so there is no TUI session; a plain shell follows."
        exec "${SHELL:-/bin/bash}" -l
    fi
    # -A: attach when the session exists, create it otherwise.
    exec tmux new-session -A -s "$SESSION" "$(readlink -f "$0")" --inside
fi

# Settings written by startup.sh: APP, PRESET, HF_HOME ... (parsed, not sourced).
APP=/opt/stablelm-tui/app
PRESET=ja-alpha
if [[ -r "$ENV_FILE" ]]; then
    while IFS='=' read -r key value; do
        case "$key" in
            APP | PRESET) printf -v "$key" '%s' "$value" ;;
            HF_HOME | HF_HUB_OFFLINE | STABLELM_TUI_VM_INFO) export "$key=$value" ;;
        esac
    done <"$ENV_FILE"
fi

if [[ ! -e "$READY" && ! -e "$FAILED" ]]; then
    echo "The VM is still setting itself up (venv, model download); its log follows."
    echo "The TUI starts by itself when setup is done. Ctrl-b d detaches; the setup goes on."
    tail -n 40 -F "$LOG" 2>/dev/null &
    tail_pid=$!
    while [[ ! -e "$READY" && ! -e "$FAILED" ]]; do
        sleep 5
    done
    kill "$tail_pid" 2>/dev/null || true
fi

if [[ -e "$FAILED" ]]; then
    explain_failure
else
    "$APP/.venv/bin/stablelm-tui" chat --preset "$PRESET" || echo "stablelm-tui exited with status $?"
fi
exec "${SHELL:-/bin/bash}" -l
