#!/usr/bin/env bash
# stablelm-tui idle watchdog: run once a minute by stablelm-tui-watchdog.timer on the VM.
#
# The VM is idle only when, at every check for IDLE_MINUTES in a row:
#   - nobody is connected over SSH (`who`, minus tmux panes; plus established connections to port 22),
#   - the GPU is not busy (utilisation of every GPU at or below GPU_BUSY_PERCENT),
# and the app's heartbeat file has not been touched for IDLE_MINUTES either. Then it stops or deletes
# the VM (IDLE_ACTION). A gap between checks longer than MAX_GAP_SECONDS restarts the count, because
# nobody looked during the gap.
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
MAX_GAP_SECONDS=300
INSTANCE=
ZONE=

log() { echo "stablelm-tui-watchdog: $*"; }

read_conf() {
    local key value
    [[ -r "$CONF" ]] || return 0
    while IFS='=' read -r key value || [[ -n "$key" ]]; do
        case "$key" in
            IDLE_MINUTES | IDLE_ACTION | GPU_BUSY_PERCENT | HEARTBEAT | STATE_FILE | MAX_GAP_SECONDS | INSTANCE | ZONE)
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
    case "$IDLE_ACTION" in
        stop | delete) ;;
        *) log "IDLE_ACTION must be stop or delete, not '$IDLE_ACTION'"; exit 2 ;;
    esac
}

# SSH sessions now. `who` lists logins with a terminal; tmux panes can appear there too (utempter) and are
# not a person, so they are skipped. Established TCP connections to sshd also catch sessions without a
# terminal (scp, port forwards).
count_ssh_sessions() {
    local count=0 line
    while IFS= read -r line; do
        [[ -z "$line" || "$line" == *"tmux("* ]] && continue
        count=$((count + 1))
    done < <(who 2>/dev/null || true)
    if command -v ss >/dev/null 2>&1; then
        while IFS= read -r line; do
            [[ -n "$line" ]] && count=$((count + 1))
        done < <(ss -Htn state established '( sport = :22 )' 2>/dev/null || true)
    fi
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

act() {
    local reason="idle for $IDLE_MINUTES minutes (no SSH, idle GPU, no app activity)"
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

    local period=$((IDLE_MINUTES * 60))
    if [[ -n "$idle_since" ]] && ((NOW - idle_since >= period && hb_age >= period)); then
        act
    fi
}

main "$@"
