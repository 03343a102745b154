#!/usr/bin/env bash
# shellcheck disable=SC2329  # the check functions are invoked through `check NAME FUNCTION ARGS...`
# Write a story in the real app in a real terminal (tmux, 80x24), by keys only, outside Textual's test harness:
# `novel open` shows the story, typing edits it, ctrl+g writes a continuation, F7/F8 undo and redo it, ctrl+o
# and F4 reach the panels, F3 the 設定 (lore budget, 禁止ワード; a bad value refused), F1 shows the novel keys, F6 goes to the chat and back, ctrl+q saves and exits 0.
# (kill -9 while a continuation streams: tests/functional/test_tmux_novel.py.)
# Usage: tests/tmux/novel_keys.sh [path/to/stablelm-tui] [python]   (exit 0 = every check passed)
set -euo pipefail

APP=${1:-.venv/bin/stablelm-tui}
PYTHON=${2:-.venv/bin/python}
SESSION="stui-novel-$$"
# shellcheck source=tests/tmux/keys_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/keys_lib.sh"
STORY="$WORK/walk.story.json"

# story FIELD: a field of the saved story file, as the app wrote it.
story() { "$PYTHON" -c "import json,sys; print(len(json.load(open(sys.argv[1]))[sys.argv[2]]))" "$STORY" "$1"; }
text_longer_than() { (( $(story text) > $1 )); }
setting_is() { "$PYTHON" -c "import json,sys; sys.exit(json.load(open(sys.argv[1]))[sys.argv[2]] != json.loads(sys.argv[3]))" "$STORY" "$1" "$2"; }
text_is() { "$PYTHON" -c "import json,sys; sys.exit(json.load(open(sys.argv[1]))['text'] != sys.argv[2])" "$STORY" "$1"; }

tmux new-session -d -s "$SESSION" -x 80 -y 24 \
    "LANG=C.UTF-8 STABLELM_TUI_DATA_DIR='$STABLELM_TUI_DATA_DIR' STABLELM_TUI_CONFIG_DIR='$STABLELM_TUI_CONFIG_DIR' \
     '$APP' novel open '$STORY' --preset demo; echo \"APP-EXIT \$?\"; sleep 30"
check "novel open shows the novel screen" wait_for " NOVEL " 90
check "the status line shows the plan's tokens, reused and prefilled" wait_for " prefill " 30

tmux send-keys -t "$SESSION" -l "森の奥に古い城があった。"
check "typing edits the story" wait_for "森の奥に古い城があった。" 10
check "the typed story is autosaved" eventually text_is "森の奥に古い城があった。"

tmux send-keys -t "$SESSION" C-g
check "ctrl+g writes a continuation (its speed shows)" wait_for "tok/s" 120
wait_for "ready" 30 || true
check "the continuation is saved after the typed text" bash -c "(( \$(\"$PYTHON\" -c \"import json; print(len(json.load(open('$STORY'))['history']))\") == 1 ))"

tmux send-keys -t "$SESSION" F7
check "F7 undoes the continuation" eventually text_is "森の奥に古い城があった。"
tmux send-keys -t "$SESSION" F8
check "F8 redoes it" eventually bash -c "! \"$PYTHON\" -c \"import json,sys; sys.exit(json.load(open('$STORY'))['text'] != '森の奥に古い城があった。')\""

tmux send-keys -t "$SESSION" C-o
check "ctrl+o opens the panels (the ledger first)" wait_for "stable prefix" 10
tmux send-keys -t "$SESSION" F4 F4
check "F4 goes to the next panel (メモリ, then 脚注)" wait_for "lines before the end" 10
tmux send-keys -t "$SESSION" C-o
check "ctrl+o closes them" gone "lines before the end"

tmux send-keys -t "$SESSION" F3
check "F3 opens the 設定 panel" wait_for "禁止ワード (one per line)" 10
# Each key after a look at the screen, as a person types: keys sent in the same burst as a focus move reach the
# field being left, and a loaded machine can read a whole burst at once.
tmux send-keys -t "$SESSION" Tab
sleep 1
tmux send-keys -t "$SESSION" BSpace BSpace BSpace
check "an erased lore budget is refused, not saved" wait_for "lore budget: type a whole number" 10
tmux send-keys -t "$SESSION" -l "256"
check "the lore budget field takes what was typed" wait_for "lore budget 256" 10
tmux send-keys -t "$SESSION" Enter
check "a lore budget typed in 設定 is saved" eventually setting_is lore_budget 256
tmux send-keys -t "$SESSION" -l "x"
check "a bad value is refused in one sentence, the saved one stays" wait_for "it stays 256" 10
tmux send-keys -t "$SESSION" Tab Tab
sleep 0.5
tmux send-keys -t "$SESSION" -l "魔王"
check "a 禁止ワード typed in 設定 is saved" eventually setting_is banned '["魔王"]'
check "and the refused lore budget never was" setting_is lore_budget 256
tmux send-keys -t "$SESSION" C-o
check "ctrl+o closes the panels again" gone "禁止ワード (one per line)"

tmux send-keys -t "$SESSION" F1
check "F1 shows the novel keys" wait_for "write: the model continues the story" 10
tmux send-keys -t "$SESSION" Escape
check "Esc closes help" gone "Keys (Esc closes)"

tmux send-keys -t "$SESSION" F6
check "F6 goes to the chat" wait_for " BASE " 10
tmux send-keys -t "$SESSION" F6
check "F6 in the chat opens the story again" wait_for "森の奥に古い城があった。" 10

tmux send-keys -t "$SESSION" C-q
check "ctrl+q exits with status 0" wait_for "APP-EXIT 0" 20
check "the story file keeps the text after quitting" text_longer_than 12

exit "$FAILED"
