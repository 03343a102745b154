#!/usr/bin/env bash
# Sourced by the tmux key walks (tui_keys.sh, novel_keys.sh), not run: a private work folder and tmux server, and
# the screen checks. The caller names its tmux session in SESSION and ends with `exit "$FAILED"`.
# shellcheck disable=SC2034  # FAILED and the exported dirs are read by the caller and the app
# shellcheck disable=SC2329  # cleanup is invoked by the EXIT trap, the others by the caller

WORK=$(mktemp -d)
export STABLELM_TUI_DATA_DIR="$WORK/data" STABLELM_TUI_CONFIG_DIR="$WORK/config"
FAILED=0

# A tmux server of our own: the pane gets the caller's environment, never that of a server someone else started.
# Its socket lives in $WORK, so it goes with it.
tmux() { command tmux -S "$WORK/tmux.sock" "$@"; }
cleanup() { tmux kill-server 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

screen() { tmux capture-pane -p -t "$SESSION"; }

# wait_for TEXT [SECONDS]: poll the screen until TEXT shows up.
wait_for() {
    local text=$1 limit=${2:-30} waited=0
    until screen | grep -qF -- "$text"; do
        sleep 0.2
        waited=$((waited + 1))
        if ((waited > limit * 5)); then return 1; fi
    done
}

# eventually COMMAND...: retry COMMAND for up to 10 s (a file the app saves on a timer, later on a loaded machine).
eventually() {
    local waited=0
    until "$@"; do
        sleep 0.2
        waited=$((waited + 1))
        if ((waited > 50)); then return 1; fi
    done
}

# gone TEXT: after a moment for the redraw, TEXT is no longer on the screen.
gone() { sleep 0.5; ! screen | grep -qF -- "$1"; }

# check NAME COMMAND...: run the check, print PASS or FAIL with the screen, and remember a failure.
check() {
    local name=$1; shift
    if "$@"; then echo "PASS $name"; else echo "FAIL $name"; FAILED=1; screen | sed 's/^/    | /'; fi
}
