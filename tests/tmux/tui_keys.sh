#!/usr/bin/env bash
# Run the real app in a real terminal (tmux, 80x24) and drive it by keys, outside Textual's test harness.
# Proves the keys arrive over a pty the way they do over SSH: Enter sends, ctrl+j inserts a newline, ctrl+t
# toggles, ctrl+l switches the LoRA adapter (BASE+LoRA in the status line), ctrl+o opens the inspector, F1/F3 open help/settings, Esc closes, Up edits the last message, and
# SIGTERM saves the conversation before exiting. (Esc, kill -9 and SIGHUP while a reply streams: tests/functional/test_tmux_signals.py.)
# Usage: tests/tmux/tui_keys.sh [path/to/stablelm-tui [BASE_ADAPTER_DIR]]   (exit 0 = every check passed)
# With BASE_ADAPTER_DIR (an adapter `stablelm-tui train --preset demo --mode base` wrote) the chat starts with
# `--adapter base=DIR` and ctrl+l is checked switching it off and on; without it, only its refusal is.
set -euo pipefail

APP=${1:-.venv/bin/stablelm-tui}
ADAPTER=${2:-}
ADAPTER_FLAG=""
if [[ -n $ADAPTER ]]; then ADAPTER_FLAG="--adapter 'base=$ADAPTER'"; fi
SESSION="stui-keys-$$"
# shellcheck source=tests/tmux/keys_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/keys_lib.sh"

tmux new-session -d -s "$SESSION" -x 80 -y 24 \
    "STABLELM_TUI_DATA_DIR='$STABLELM_TUI_DATA_DIR' STABLELM_TUI_CONFIG_DIR='$STABLELM_TUI_CONFIG_DIR' \
     '$APP' chat --preset demo $ADAPTER_FLAG; echo \"APP-EXIT \$?\"; sleep 30"
check "starts and loads the demo model" wait_for "ready" 90

tmux send-keys -t "$SESSION" "first line"
tmux send-keys -t "$SESSION" C-j
tmux send-keys -t "$SESSION" "second line"
check "ctrl+j inserts a newline (nothing sent)" bash -c "! tmux -S $WORK/tmux.sock capture-pane -p -t $SESSION | grep -qF 'assistant ·'"
tmux send-keys -t "$SESSION" Enter
check "Enter sends; the reply is labelled INSTRUCT" wait_for "assistant · INSTRUCT" 60
check "the message kept its two lines" bash -c "tmux -S $WORK/tmux.sock capture-pane -p -t $SESSION | grep -A1 -F 'first line' | grep -qF 'second line'"
wait_for "ready" 60 || true

tmux send-keys -t "$SESSION" C-l
check "ctrl+l on a model without an adapter says so" wait_for "has no LoRA" 10
tmux send-keys -t "$SESSION" C-t
check "ctrl+t switches to BASE" wait_for " BASE" 30
if [[ -n $ADAPTER ]]; then
    check "the base model's adapter shows as BASE+LoRA" wait_for " BASE+LoRA  demo" 30
    wait_for "ready" 60 || true
    tmux send-keys -t "$SESSION" C-l
    check "ctrl+l turns the adapter off in place" wait_for " BASE  demo" 20
    tmux send-keys -t "$SESSION" C-l
    check "ctrl+l turns it back on" wait_for " BASE+LoRA  demo" 20
fi
tmux send-keys -t "$SESSION" C-t
check "ctrl+t switches back to INSTRUCT" wait_for " INSTRUCT " 30

tmux send-keys -t "$SESSION" C-o
check "ctrl+o opens the inspector" wait_for "Context inspector" 10
tmux send-keys -t "$SESSION" C-o
check "ctrl+o closes it" gone "Context inspector"

tmux send-keys -t "$SESSION" F1
check "F1 opens help" wait_for "Keys (Esc closes)" 10
tmux send-keys -t "$SESSION" Escape
check "Esc closes help" gone "Keys (Esc closes)"

tmux send-keys -t "$SESSION" F3
check "F3 opens settings" wait_for "Settings (blank" 10
tmux send-keys -t "$SESSION" Escape
sleep 0.5

tmux send-keys -t "$SESSION" Up
check "Up in the empty input edits the last message" wait_for "editing your last message" 10
tmux send-keys -t "$SESSION" Escape

# SIGTERM (spot preemption, shutdown) in the middle of a reply: the app saves and exits cleanly.
sleep 0.5
tmux send-keys -t "$SESSION" "please write a long answer" Enter
wait_for "generating" 20 || true
PANE_PID=$(tmux display-message -p -t "$SESSION" '#{pane_pid}')
APP_PID=$(pgrep -P "$PANE_PID" -f "chat --preset demo" | head -1)
kill -TERM "$APP_PID"
check "SIGTERM exits with status 0" wait_for "APP-EXIT 0" 20
SAVED=$("$APP" sessions list --json)
check "the conversation was saved, the cut reply too" bash -c "echo '$SAVED' | grep -q '\"messages\": 4'"

exit "$FAILED"
