#!/usr/bin/env bash
# stablelm-tui VM setup. Compute Engine runs it as root at every boot (the `startup-script` metadata that
# `provisioning/vm up` sets). Every step checks before it acts, so a re-run (a reboot, or by hand:
# `sudo google_metadata_script_runner startup`) only does what is missing. Everything goes to
# /var/log/stablelm-tui-setup.log.
#
# Steps, in order: config (vm.json for the TUI, watchdog.conf), guards (the idle watchdog's systemd timer, the
# session script `vm ssh` runs, sshd keepalives; first, so a failing setup still cannot bill forever and `vm ssh`
# can say why), packages, project (git checkout), driver (NVIDIA >= 580, which the CUDA 13 builds of today's PyPI
# torch need; the default boot image has it already), venv (`make setup` of the repo), models (pre-download of the
# preset's models), ready.
#
# Whatever ends the script early, a failed step included, leaves /var/lib/stablelm-tui/failed with one sentence
# and publishes state, sentence and the log's tail as guest attributes (stablelm-tui/state, message, log-tail),
# which `vm status` and `vm ssh` show.
#
# `startup.sh STEP...` runs only those steps (tests run `config`, `guards`). STABLELM_TUI_PREFIX puts every path
# under another root (written into the files too), and STABLELM_TUI_METADATA_URL points at another metadata
# server, for the same reason.
set -Eeuo pipefail

PREFIX="${STABLELM_TUI_PREFIX:-}"
METADATA_URL="${STABLELM_TUI_METADATA_URL:-http://metadata.google.internal/computeMetadata/v1}"
ETC="$PREFIX/etc/stablelm-tui"
VAR="$PREFIX/var/lib/stablelm-tui"
RUN_DIR="$PREFIX/run/stablelm-tui"
LIB="$PREFIX/usr/local/lib/stablelm-tui"
ROOT="$PREFIX/opt/stablelm-tui"
APP="$ROOT/app"
HF_DIR="$ROOT/hf"
LOG="$PREFIX/var/log/stablelm-tui-setup.log"
HEARTBEAT="$VAR/heartbeat"
MIN_DRIVER=580
# apt waits this long for another apt (unattended-upgrades at first boot) to let go of its locks.
APT_LOCK_WAIT="${STABLELM_TUI_APT_LOCK_WAIT:-600}"
APT_RETRY_SECONDS="${STABLELM_TUI_APT_RETRY_SECONDS:-10}"
HEARTBEAT_PID=
STEP=start
FAILED_COMMAND=

mkdir -p "$(dirname "$LOG")"
exec > >(tee -a "$LOG") 2>&1
TEE_PID=$!

log() { echo "[$(date -u +%FT%TZ)] stablelm-tui-setup: $*"; }

# One instance attribute that `vm up` set (stablelm-tui-NAME), or the default.
attr() {
    local value
    value=$(curl -fsS --retry 3 -H 'Metadata-Flavor: Google' \
        "$METADATA_URL/instance/attributes/stablelm-tui-$1" 2>/dev/null) || value=
    echo "${value:-${2:-}}"
}
instance_field() {
    curl -fsS --retry 3 -H 'Metadata-Flavor: Google' "$METADATA_URL/instance/$1" 2>/dev/null || true
}

# Guest attribute stablelm-tui/KEY (needs enable-guest-attributes=TRUE, which `vm up` sets); best effort.
guest_attr() {
    printf '%s' "$2" | curl -fsS -X PUT --data-binary @- -H 'Metadata-Flavor: Google' \
        "$METADATA_URL/instance/guest-attributes/stablelm-tui/$1" >/dev/null 2>&1 || true
}

report() {
    guest_attr state "$1"
    guest_attr message "$2"
}

fail() {
    log "FAILED: $*"
    mkdir -p "$VAR"
    echo "step $STEP failed: $*" >"$VAR/failed"
    exit 1
}

# Runs at every exit. A failure (or anything else that stops the script before `ready`) ends in one sentence in
# $VAR/failed and the guest attributes, with the log's tail: that is what `vm ssh` and `vm status` show.
on_exit() {
    local rc=$? tail
    trap - EXIT ERR
    [[ -z "$HEARTBEAT_PID" ]] || kill "$HEARTBEAT_PID" 2>/dev/null || true
    if ((rc != 0)) && [[ ! -e "$VAR/failed" ]]; then
        mkdir -p "$VAR"
        echo "step $STEP failed: ${FAILED_COMMAND:-exit status $rc}" >"$VAR/failed"
        log "FAILED: step $STEP: ${FAILED_COMMAND:-exit status $rc}"
    fi
    # Let tee write everything before the tail is read.
    exec >&- 2>&-
    wait "$TEE_PID" 2>/dev/null || true
    if [[ -e "$VAR/failed" ]]; then
        tail=$(tail -n 15 "$LOG" 2>/dev/null | tail -c 4000)
        report failed "$(cat "$VAR/failed")"
        guest_attr log-tail "$tail"
    fi
    exit "$rc"
}

# The first command that failed (set -E carries the ERR trap into functions), for the failure's sentence.
on_err() {
    local rc=$?
    [[ -n "$FAILED_COMMAND" ]] || FAILED_COMMAND="'$BASH_COMMAND' exited $rc"
}

# apt-get that waits for the locks other apt runs hold at first boot. DPkg::Lock::Timeout makes apt wait for the
# dpkg lock; `apt-get update` takes the lists lock without waiting (apt-pkg/acquire.cc), so that is retried here.
apt_get() {
    local deadline=$((SECONDS + APT_LOCK_WAIT)) out rc
    while true; do
        out=$(mktemp)
        rc=0
        DEBIAN_FRONTEND=noninteractive apt-get -o "DPkg::Lock::Timeout=$APT_LOCK_WAIT" "$@" >"$out" 2>&1 || rc=$?
        cat "$out"
        if ((rc == 0)); then
            rm -f "$out"
            return 0
        fi
        if grep -qE '^E: (Could not get lock|Unable to lock|Unable to acquire the dpkg frontend lock)' "$out" &&
            ((SECONDS < deadline)); then
            rm -f "$out"
            log "apt is busy (another apt run holds its lock); retrying in ${APT_RETRY_SECONDS}s"
            sleep "$APT_RETRY_SECONDS"
            continue
        fi
        FAILED_COMMAND="apt-get $* exited $rc: $(grep -E '^E: ' "$out" | tail -n 1 || true)"
        rm -f "$out"
        fail "${FAILED_COMMAND}"
    done
}

step_config() {
    mkdir -p "$ETC" "$VAR" "$RUN_DIR"
    rm -f "$VAR/failed" "$VAR/ready"
    local zone uptime_s
    zone=$(instance_field zone)
    uptime_s=$(cut -d' ' -f1 /proc/uptime)
    # vm.json: what the TUI's status line reads (tui/vminfo.py; format in docs/provisioning.md). The hard limit
    # is not here: the watchdog reads it from the instance into limit_path, so it is always the real one.
    VM_INSTANCE=$(instance_field name) VM_ZONE="${zone##*/}" VM_UPTIME="$uptime_s" \
        VM_PROFILE=$(attr profile) VM_MACHINE_TYPE=$(attr machine-type) VM_GPU=$(attr gpu) \
        VM_HOURLY_USD=$(attr hourly-usd 0) VM_PRICE_DATE=$(attr price-date) VM_JPY=$(attr jpy-per-usd 0) \
        VM_IDLE_MINUTES=$(attr idle-minutes 30) VM_IDLE_ACTION=$(attr idle-action stop) \
        VM_HEARTBEAT="$HEARTBEAT" VM_STATE="$RUN_DIR/watchdog.state" VM_LIMIT="$RUN_DIR/limit" \
        python3 - "$ETC/vm.json" <<'EOF'
import json, os, sys, time

env = os.environ

def number(key, kind=float):
    try:
        return kind(env[key])
    except (KeyError, ValueError):
        return kind(0)

info = {
    "version": 2,
    "instance": env.get("VM_INSTANCE", ""),
    "zone": env.get("VM_ZONE", ""),
    "profile": env.get("VM_PROFILE", ""),
    "machine_type": env.get("VM_MACHINE_TYPE", ""),
    "gpu": env.get("VM_GPU", ""),
    "hourly_usd": number("VM_HOURLY_USD"),
    "price_date": env.get("VM_PRICE_DATE", ""),
    "jpy_per_usd": number("VM_JPY"),
    # Boot time: the cost counts from when the VM last started running.
    "started_at": int(time.time() - number("VM_UPTIME")),
    "idle_minutes": number("VM_IDLE_MINUTES", int),
    "idle_action": env.get("VM_IDLE_ACTION", ""),
    "heartbeat_path": env.get("VM_HEARTBEAT", ""),
    "watchdog_state_path": env.get("VM_STATE", ""),
    "limit_path": env.get("VM_LIMIT", ""),
}
path = sys.argv[1]
with open(path + ".tmp", "w", encoding="utf-8") as fh:
    json.dump(info, fh, indent=2)
    fh.write("\n")
os.chmod(path + ".tmp", 0o644)
os.replace(path + ".tmp", path)
EOF
    {
        echo "# Written by startup.sh at every boot from the instance metadata; read by watchdog.sh."
        echo "IDLE_MINUTES=$(attr idle-minutes 30)"
        echo "IDLE_ACTION=$(attr idle-action stop)"
        echo "GPU_BUSY_PERCENT=$(attr gpu-busy-percent 10)"
        echo "MAX_RUN_SECONDS=$(attr max-run-seconds 0)"
        echo "HEARTBEAT=$HEARTBEAT"
        echo "STATE_FILE=$RUN_DIR/watchdog.state"
        echo "LIMIT_FILE=$RUN_DIR/limit"
        echo "INSTANCE=$(instance_field name)"
        echo "ZONE=${zone##*/}"
    } >"$ETC/watchdog.conf"
    {
        echo "APP=$APP"
        echo "PRESET=$(attr preset ja-alpha)"
        echo "HF_HOME=$HF_DIR"
    } >"$ETC/env"
    # Anyone on the VM (the SSH user running the TUI) may touch the heartbeat.
    [[ -e "$HEARTBEAT" ]] || touch -d @0 "$HEARTBEAT"
    chmod 666 "$HEARTBEAT"
    log "config written: $ETC/vm.json, $ETC/watchdog.conf"
}

# A script from the instance metadata (stablelm-tui-NAME), installed executable at $2.
install_from_metadata() {
    local script
    script=$(attr "$1")
    [[ -n "$script" ]] || fail "the instance metadata has no stablelm-tui-$1 script"
    mkdir -p "$(dirname "$2")"
    printf '%s\n' "$script" >"$2.new"
    chmod 755 "$2.new"
    mv -f "$2.new" "$2"
}

step_guards() {
    install_from_metadata watchdog "$LIB/watchdog.sh"
    mkdir -p "$PREFIX/etc/systemd/system"
    cat >"$PREFIX/etc/systemd/system/stablelm-tui-watchdog.service" <<EOF
[Unit]
Description=stablelm-tui idle watchdog (stops or deletes the VM when idle)

[Service]
Type=oneshot
ExecStart=$LIB/watchdog.sh
EOF
    cat >"$PREFIX/etc/systemd/system/stablelm-tui-watchdog.timer" <<'EOF'
[Unit]
Description=Run the stablelm-tui idle watchdog every minute

[Timer]
OnBootSec=1min
OnUnitActiveSec=1min
AccuracySec=5s

[Install]
WantedBy=timers.target
EOF
    systemctl daemon-reload
    systemctl enable --now stablelm-tui-watchdog.timer
    log "watchdog timer active"
    # Before anything that can fail, so `vm ssh` can always say how the setup went.
    install_from_metadata session "$PREFIX/usr/local/bin/stablelm-tui-session"
    # A dropped connection (laptop closed) would otherwise hold its SSH session, and so the VM, for the ~2 hours
    # TCP keepalive takes; with these sshd ends it after 3 unanswered probes a minute apart.
    mkdir -p "$PREFIX/etc/ssh/sshd_config.d"
    printf 'ClientAliveInterval 60\nClientAliveCountMax 3\n' >"$PREFIX/etc/ssh/sshd_config.d/60-stablelm-tui.conf"
    systemctl try-reload-or-restart ssh.service || log "could not reload sshd (keepalives apply from next boot)"
}

step_packages() {
    local wanted=(git make tmux curl ca-certificates python3-venv python3-pip ubuntu-drivers-common) missing=()
    local pkg
    for pkg in "${wanted[@]}"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    if ((${#missing[@]})); then
        log "installing ${missing[*]}"
        apt_get update -q
        apt_get install -y -q "${missing[@]}"
    fi
}

step_project() {
    local repo ref
    repo=$(attr repo)
    ref=$(attr ref main)
    [[ -n "$repo" ]] || fail "the instance metadata has no stablelm-tui-repo (vm up --repo URL)"
    if [[ ! -d "$APP/.git" ]]; then
        log "cloning $repo"
        mkdir -p "$ROOT"
        git clone --quiet "$repo" "$APP" || fail "git clone $repo failed (a private repo needs a URL the VM can read)"
    fi
    # Move to the requested ref; local edits on the VM win over an update (logged, not fatal).
    if git -C "$APP" fetch --quiet origin "$ref" && git -C "$APP" checkout --quiet --detach FETCH_HEAD; then
        log "project at $ref ($(git -C "$APP" rev-parse --short HEAD))"
    else
        log "could not move to $ref; keeping $(git -C "$APP" rev-parse --short HEAD)"
    fi
}

driver_major() {
    nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -n 1 | cut -d. -f1
}

step_driver() {
    local major branch
    major=$(driver_major || true)
    if [[ -n "$major" ]] && ((major >= MIN_DRIVER)); then
        log "NVIDIA driver $major is new enough"
        return 0
    fi
    branch=$(attr driver-branch "$MIN_DRIVER")
    log "installing the NVIDIA $branch server driver (found: ${major:-none})"
    # Headers for the running kernel: DKMS builds the module against them when no prebuilt one fits this kernel.
    apt_get install -y -q "linux-headers-$(uname -r)"
    # ubuntu-drivers picks Canonical's prebuilt, signed kernel modules when they exist for this kernel.
    if ! ubuntu-drivers install --gpgpu "nvidia:$branch-server"; then
        apt_get install -y -q "nvidia-headless-$branch-server"
    fi
    apt_get install -y -q "nvidia-utils-$branch-server"
    modprobe nvidia 2>/dev/null || true
    major=$(driver_major || true)
    if [[ -n "$major" ]] && ((major >= MIN_DRIVER)); then
        log "NVIDIA driver $major loaded"
        return 0
    fi
    # An older module still loaded (or nouveau) needs a reboot; do it once, this script runs again at boot.
    if [[ -e "$VAR/rebooted-for-driver" ]]; then
        fail "NVIDIA driver >= $MIN_DRIVER still not working after a reboot (nvidia-smi: ${major:-none})"
    fi
    touch "$VAR/rebooted-for-driver"
    log "rebooting to load the new driver"
    report rebooting "rebooting once to load the new NVIDIA driver; the setup goes on after the boot"
    systemctl reboot
    exit 0
}

step_venv() {
    # The repo's Makefile: a venv in $APP/.venv with the CUDA build of torch (nvidia-smi works by now).
    HOME="${HOME:-/root}" make -C "$APP" setup PYTHON=python3 || fail "make setup (the project's venv) failed"
    log "venv ready: $("$APP/.venv/bin/python" -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())')"
}

# Hub ids of the preset's models and tokenizer (not local paths, not demo:*), one per line.
preset_repos() {
    "$APP/.venv/bin/stablelm-tui" presets --json | "$APP/.venv/bin/python" -c '
import json, sys
preset = json.load(sys.stdin).get(sys.argv[1])
if preset is None:
    sys.exit(f"unknown preset {sys.argv[1]}")
names = [preset["tokenizer"], preset["base"]["model"], preset["instruct"]["model"]]
for name in dict.fromkeys(names):
    if name.count("/") == 1 and not name.startswith((".", "/", "~")) and ":" not in name:
        print(name)
' "$1"
}

step_models() {
    local preset secret repo hf failed=0
    preset=$(attr preset ja-alpha)
    secret=$(attr hf-token-secret)
    mkdir -p "$HF_DIR"
    export HF_HOME="$HF_DIR"
    if [[ -n "$secret" ]]; then
        # Only for this download; the token is not written to disk.
        HF_TOKEN=$(gcloud secrets versions access latest --secret="$secret" 2>/dev/null) ||
            log "could not read secret $secret (scope cloud-platform and role secretmanager.secretAccessor needed)"
        export HF_TOKEN
    fi
    hf="$APP/.venv/bin/hf"
    [[ -x "$hf" ]] || hf="$APP/.venv/bin/huggingface-cli"
    while IFS= read -r repo; do
        [[ -n "$repo" ]] || continue
        log "downloading $repo"
        if ! "$hf" download --quiet "$repo" >/dev/null; then
            log "could not download $repo (gated models need an accepted licence and HF_TOKEN; see docs/provisioning.md)"
            failed=1
        fi
    done < <(preset_repos "$preset")
    # The SSH user runs the TUI and may need to add files (locks, other presets) to the shared cache.
    chmod -R a+rwX "$HF_DIR"
    if ((failed == 0)); then
        # Everything is local: the TUI need not ask the hub (which would need the token for gated models).
        grep -q '^HF_HUB_OFFLINE=' "$ETC/env" || echo "HF_HUB_OFFLINE=1" >>"$ETC/env"
    fi
}

step_ready() {
    date -u +%FT%TZ >"$VAR/ready"
    report ready "setup done: the TUI is ready"
    log "ready: run 'provisioning/vm ssh' on your machine"
}

main() {
    local steps=("$@") step
    ((${#steps[@]})) || steps=(config guards packages project driver venv models ready)
    log "starting: ${steps[*]}"
    trap on_err ERR
    trap on_exit EXIT
    # Setup counts as activity: keep the heartbeat fresh so the watchdog does not end a slow setup. Its
    # output goes nowhere, so it never holds the log pipe open after the script ends.
    if [[ " ${steps[*]} " != " config " ]]; then
        (while sleep 60; do touch "$HEARTBEAT" 2>/dev/null || true; done) >/dev/null 2>&1 &
        HEARTBEAT_PID=$!
    fi
    for step in "${steps[@]}"; do
        STEP=$step
        case "$step" in
            config | guards | packages | project | driver | venv | models | ready)
                [[ "$step" == ready ]] || report setup "setting up: step $step"
                "step_$step"
                ;;
            *) fail "unknown step '$step'" ;;
        esac
    done
}

main "$@"
