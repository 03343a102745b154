#!/usr/bin/env bash
# stablelm-tui idle watchdog: run once a minute by stablelm-tui-watchdog.timer on the VM.
#
# The VM is idle only when, at every check for IDLE_MINUTES in a row:
#   - nobody is logged in over SSH (an authenticated sshd session; connections that never logged in, such as
#     the scanners that probe every public port 22, do not count),
#   - the GPU is not busy (utilisation of every GPU at or below GPU_BUSY_PERCENT),
# and the app's heartbeat file has not been touched for IDLE_MINUTES either. Then it stops or deletes
# the VM (IDLE_ACTION). A gap between checks longer than MAX_GAP_SECONDS restarts the count, because
# nobody looked during the gap.
#
# It also reads the VM's hard limit from the instance (`gcloud compute instances describe`) into LIMIT_FILE,
# which the TUI's status line shows, and if the instance has no limit at all it enforces MAX_RUN_SECONDS
# (what `vm up` asked for) itself.
#
# Settings come from $STABLELM_TUI_WATCHDOG_CONF (default /etc/stablelm-tui/watchdog.conf), KEY=VALUE
# lines written by startup.sh; the file is parsed, never sourced. WATCHDOG_NOW (epoch seconds) replaces
# the clock, so tests can walk through half an hour in a few calls.
set -euo pipefail

CONF="${STABLELM_TUI_WATCHDOG_CONF:-/etc/stablelm-tui/watchdog.conf}"

IDLE_MINUTES=30
IDLE_ACTION=stop
GPU_BUSY_PERCENT=10
HEARTBEAT=/var/lib/stablelm-tui/heartbeat
STATE_FILE=/run/stablelm-tui/watchdog.state
LIMIT_FILE=/run/stablelm-tui/limit
LIMIT_REFRESH_SECONDS=600
MAX_RUN_SECONDS=0
MAX_GAP_SECONDS=300
INSTANCE=
ZONE=

log() { echo "stablelm-tui-watchdog: $*"; }

read_conf() {
    local key value
    [[ -r "$CONF" ]] || return 0
    while IFS='=' read -r key value || [[ -n "$key" ]]; do
        case "$key" in
            IDLE_MINUTES | IDLE_ACTION | GPU_BUSY_PERCENT | HEARTBEAT | STATE_FILE | MAX_GAP_SECONDS | INSTANCE | ZONE | \
                LIMIT_FILE | LIMIT_REFRESH_SECONDS | MAX_RUN_SECONDS)
                printf -v "$key" '%s' "$value"
                ;;
            '' | '#'*) ;;
            *) log "ignoring unknown setting '$key' in $CONF" ;;
        esac
    done <"$CONF"
}

is_number() { [[ "$1" =~ ^[0-9]+$ ]]; }

check_conf() {
    if ! is_number "$IDLE_MINUTES" || ((IDLE_MINUTES == 0)); then
        log "IDLE_MINUTES must be a positive number"
        exit 2
    fi
    is_number "$GPU_BUSY_PERCENT" || { log "GPU_BUSY_PERCENT must be a number"; exit 2; }
    is_number "$MAX_GAP_SECONDS" || { log "MAX_GAP_SECONDS must be a number"; exit 2; }
    is_number "$LIMIT_REFRESH_SECONDS" || { log "LIMIT_REFRESH_SECONDS must be a number"; exit 2; }
    is_number "$MAX_RUN_SECONDS" || { log "MAX_RUN_SECONDS must be a number"; exit 2; }
    case "$IDLE_ACTION" in
        stop | delete) ;;
        *) log "IDLE_ACTION must be stop or delete, not '$IDLE_ACTION'"; exit 2 ;;
    esac
}

# Logged-in SSH sessions now. sshd retitles each connection's processes (setproctitle): before authentication
# they read "sshd: [accepted]", "sshd: USER [priv]", "sshd: USER [net]"; once a user is in, the session process
# reads "sshd: USER" (no channel yet, e.g. a port forward), "sshd: USER@pts/0", "sshd: USER@notty" (scp, a remote
# command) or "sshd: USER@internal-sftp". OpenSSH 9.8+ names that process sshd-session. Only the logged-in forms
# count: the bots that probe a public port 22 never get past the bracketed ones. An attached tmux client always
# runs inside such a session.
count_ssh_sessions() {
    local count=0 line
    while IFS= read -r line; do
        [[ "$line" =~ ^sshd(-session)?:\ [^][[:space:]]+$ ]] && count=$((count + 1))
    done < <(ps -e -ww -o args= 2>/dev/null || true)
    echo "$count"
}

# Highest utilisation over all GPUs, in percent. No working nvidia-smi means no GPU can be busy.
gpu_busy_max() {
    local out value max=0
    if ! out=$(timeout 30 nvidia-smi --query-gpu=utilization.gpu --format=csv,noheader,nounits 2>/dev/null); then
        echo 0
        return
    fi
    while IFS= read -r value; do
        value="${value//[^0-9]/}"
        if [[ -n "$value" ]] && ((value > max)); then
            max=$value
        fi
    done <<<"$out"
    echo "$max"
}

# Seconds since the app last touched its heartbeat; a missing file counts as touched at the epoch.
heartbeat_age() {
    local mtime=0
    if [[ -e "$HEARTBEAT" ]]; then
        mtime=$(stat -c %Y "$HEARTBEAT" 2>/dev/null || echo 0)
    fi
    echo $((NOW - mtime))
}

read_state() {
    local key value
    idle_since=
    last_check=
    [[ -r "$STATE_FILE" ]] || return 0
    while IFS='=' read -r key value; do
        case "$key" in
            idle_since) is_number "$value" && idle_since=$value ;;
            last_check) is_number "$value" && last_check=$value ;;
        esac
    done <"$STATE_FILE"
}

write_state() {
    local tmp
    mkdir -p "$(dirname "$STATE_FILE")"
    tmp="$STATE_FILE.tmp.$$"
    {
        echo "idle_since=$idle_since"
        echo "last_check=$NOW"
        echo "ssh_sessions=$ssh_sessions"
        echo "gpu_util=$gpu_util"
        echo "heartbeat_age=$hb_age"
        echo "idle_minutes=$IDLE_MINUTES"
        echo "idle_action=$IDLE_ACTION"
        echo "busy=$busy"
    } >"$tmp"
    chmod 644 "$tmp"
    mv -f "$tmp" "$STATE_FILE"
}

# The hard limit as the instance reports it, written to LIMIT_FILE as KEY=VALUE lines for the TUI:
# status (ok: Google ends this run at termination_at; none: the instance has no limit; unknown: could not ask),
# checked_at, termination_at, max_run_seconds, action, last_start (epoch seconds), error.
refresh_limit() {
    local checked_at=0 status='' out err
    [[ -n "$INSTANCE" && -n "$ZONE" ]] || return 0
    if [[ -r "$LIMIT_FILE" ]]; then
        checked_at=$(sed -n 's/^checked_at=//p' "$LIMIT_FILE")
        status=$(sed -n 's/^status=//p' "$LIMIT_FILE")
    fi
    is_number "$checked_at" || checked_at=0
    # The termination time is fixed for a run (it changes only when the VM stops and starts, i.e. reboots it),
    # so a fresh answer is asked for only every LIMIT_REFRESH_SECONDS.
    if [[ "$status" == ok || "$status" == none ]] && ((NOW - checked_at < LIMIT_REFRESH_SECONDS)); then
        return 0
    fi
    mkdir -p "$(dirname "$LIMIT_FILE")"
    err=$(mktemp)
    if out=$(timeout 60 gcloud compute instances describe "$INSTANCE" --zone="$ZONE" --format=json 2>"$err"); then
        printf '%s' "$out" | python3 -c '
import json, sys
from datetime import datetime

def epoch(text):
    try:
        return int(datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp())
    except ValueError:
        return ""

data = json.load(sys.stdin)
sched = data.get("scheduling") or {}
seconds = (sched.get("maxRunDuration") or {}).get("seconds")
end = ((data.get("resourceStatus") or {}).get("scheduling") or {}).get("terminationTimestamp")
end = end or sched.get("terminationTime")
start = epoch(data["lastStartTimestamp"]) if data.get("lastStartTimestamp") else ""
until = epoch(end) if end else (start + int(seconds) if seconds and start != "" else "")
print("status=" + ("ok" if seconds or end else "none"))
print("termination_at=%s" % until)
print("max_run_seconds=%s" % (seconds or ""))
print("action=%s" % sched.get("instanceTerminationAction", ""))
print("last_start=%s" % start)
' >"$LIMIT_FILE.tmp" || echo "status=unknown" >"$LIMIT_FILE.tmp"
    else
        {
            echo "status=unknown"
            echo "error=$(tail -n 1 "$err" | tr -d '\r')"
        } >"$LIMIT_FILE.tmp"
    fi
    rm -f "$err"
    echo "checked_at=$NOW" >>"$LIMIT_FILE.tmp"
    chmod 644 "$LIMIT_FILE.tmp"
    mv -f "$LIMIT_FILE.tmp" "$LIMIT_FILE"
}

# Google's limit is the guard that works even when this VM hangs; when the instance has none (cleared, or made
# by hand) the watchdog holds the VM to the limit `vm up` asked for, counted from the instance's last start.
over_fallback_limit() {
    local status last_start
    ((MAX_RUN_SECONDS > 0)) && [[ -r "$LIMIT_FILE" ]] || return 1
    status=$(sed -n 's/^status=//p' "$LIMIT_FILE")
    last_start=$(sed -n 's/^last_start=//p' "$LIMIT_FILE")
    [[ "$status" == none ]] && is_number "$last_start" && ((NOW - last_start >= MAX_RUN_SECONDS))
}

act() {
    local reason="${1:-idle for $IDLE_MINUTES minutes (no SSH login, idle GPU, no app activity)}"
    if [[ "$IDLE_ACTION" == delete ]]; then
        if [[ -n "$INSTANCE" && -n "$ZONE" ]] &&
            gcloud compute instances delete "$INSTANCE" --zone="$ZONE" --delete-disks=all --quiet; then
            log "$reason: deleting $INSTANCE"
            return 0
        fi
        # Usually a missing compute scope or IAM role (see docs/provisioning.md). Stopping still ends
        # the hourly bill; only the disk keeps costing.
        log "could not delete $INSTANCE ($ZONE); stopping it instead"
    fi
    log "$reason: shutting down"
    shutdown -h now "stablelm-tui: $reason"
}

main() {
    read_conf
    check_conf
    NOW="${WATCHDOG_NOW:-$(date +%s)}"
    is_number "$NOW" || { log "WATCHDOG_NOW must be epoch seconds"; exit 2; }

    read_state
    if [[ -n "$last_check" ]] && ((NOW - last_check > MAX_GAP_SECONDS)); then
        idle_since=
    fi

    ssh_sessions=$(count_ssh_sessions)
    gpu_util=$(gpu_busy_max)
    hb_age=$(heartbeat_age)
    busy=
    ((ssh_sessions > 0)) && busy+="ssh "
    ((gpu_util > GPU_BUSY_PERCENT)) && busy+="gpu "
    if [[ -n "$busy" ]]; then
        idle_since=
    elif [[ -z "$idle_since" ]]; then
        idle_since=$NOW
    fi
    busy="${busy% }"
    write_state
    refresh_limit

    local period=$((IDLE_MINUTES * 60))
    if [[ -n "$idle_since" ]] && ((NOW - idle_since >= period && hb_age >= period)); then
        act
    elif over_fallback_limit; then
        act "ran $((MAX_RUN_SECONDS / 60)) minutes without a hard limit on the instance"
    fi
}

main "$@"
