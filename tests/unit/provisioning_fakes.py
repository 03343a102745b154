"""Fakes of the real tools the provisioning code runs, placed first on PATH: gcloud (tests/unit/fake_gcloud.py),
and on the VM's side ps, who, ss, apt-get, dpkg and curl against a metadata server kept in files.

Each prints what the real tool prints (the formats are quoted where they are built); a test that needs another
answer changes the fake's input files, never the format.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
PROVISIONING = REPO / "provisioning"
FAKE_GCLOUD = Path(__file__).with_name("fake_gcloud.py")
T0 = 1_800_000_000  # an arbitrary "now" in 2027


def make_fake(bin_dir: Path, name: str, body: str, *, python: bool = False) -> Path:
    """An executable on a test PATH; Python fakes run with this interpreter, shell fakes with bash."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / name
    shebang = f"#!{sys.executable}\n" if python else "#!/usr/bin/env bash\n"
    path.write_text(shebang + body)
    path.chmod(0o755)
    return path


def zone_url(zone: str, project: str = "p") -> str:
    return f"https://www.googleapis.com/compute/v1/projects/{project}/zones/{zone}"


class FakeCloud:
    """The fake gcloud with its state file, and helpers to put the cloud into the state a test needs."""

    def __init__(self, tmp: Path, bin_dir: Path | None = None) -> None:
        self.bin = bin_dir or tmp / "bin"
        self.state_file = tmp / "gcloud-state.json"
        self.state_file.write_text(json.dumps({"project": "p", "instances": [], "accelerators": []}))
        make_fake(
            self.bin,
            "gcloud",
            f"import runpy\nrunpy.run_path({str(FAKE_GCLOUD)!r}, run_name='__main__')\n",
            python=True,
        )
        self.env = {
            **os.environ,
            "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}",
            "FAKE_GCLOUD_STATE": str(self.state_file),
        }

    # --- state ----------------------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return dict(json.loads(self.state_file.read_text()))

    def _update(self, **changes: Any) -> None:
        state = self.state()
        state.update(changes)
        self.state_file.write_text(json.dumps(state))

    def offer(self, gpu: str, *zones: str) -> None:
        """Zones whose accelerator types include `gpu`, as the Compute API lists them (zone as a URL)."""
        items = self.state().get("accelerators", [])
        for zone in zones:
            items.append(
                {
                    "kind": "compute#acceleratorType",
                    "name": gpu,
                    "description": gpu,
                    "maximumCardsPerInstance": 4,
                    "zone": zone_url(zone),
                    "selfLink": f"{zone_url(zone)}/acceleratorTypes/{gpu}",
                }
            )
        self._update(accelerators=items)

    def stockout(self, *zones: str) -> None:
        self._update(stockout=list(zones))

    def fail(self, what: str, message: str = "ERROR: (gcloud.compute) PERMISSION_DENIED: nope") -> None:
        self._update(fail={**self.state().get("fail", {}), what: message})

    def heal(self, what: str) -> None:
        self._update(fail={k: v for k, v in self.state().get("fail", {}).items() if k != what})

    def guest_dir(self, name: str, path: Path) -> None:
        self._update(guest_dirs={**self.state().get("guest_dirs", {}), name: str(path)})

    def add_instance(
        self,
        name: str = "stablelm-tui-t4",
        zone: str = "asia-northeast1-a",
        *,
        profile: str = "t4",
        max_run: str | None = "8h",
        status: str = "RUNNING",
        started: float | None = None,
    ) -> dict[str, Any]:
        """An instance made through the fake's own `instances create` (so it has every field a real one has)."""
        machine = {"t4": "n1-highmem-8", "l4": "g2-standard-8", "a100": "a2-highgpu-1g"}[profile]
        argv = [
            "gcloud", "compute", "instances", "create", name, f"--zone={zone}", f"--machine-type={machine}",
            "--maintenance-policy=TERMINATE", "--provisioning-model=SPOT", "--instance-termination-action=DELETE",
            "--image-family=ubuntu-accelerator-2404-amd64-with-nvidia-580",
            "--image-project=ubuntu-os-accelerator-images", "--boot-disk-size=100GB", "--boot-disk-auto-delete",
            f"--labels=stablelm-tui=managed,stablelm-tui-profile={profile}", "--format=json",
        ]  # fmt: skip
        if profile == "t4":
            argv.append("--accelerator=type=nvidia-tesla-t4,count=1")
        if max_run:
            argv.append(f"--max-run-duration={max_run}")
        env = {**self.env, "FAKE_NOW": str(started)} if started is not None else self.env
        subprocess.run(argv, env=env, check=True, capture_output=True, text=True)
        if status == "TERMINATED":
            subprocess.run(
                ["gcloud", "compute", "instances", "stop", name, f"--zone={zone}"],
                env=self.env,
                check=True,
                capture_output=True,
            )
        self.forget_calls()
        return self.instance(name)

    def instance(self, name: str) -> dict[str, Any]:
        return dict(next(i for i in self.state()["instances"] if i["name"] == name))

    # --- calls ----------------------------------------------------------------------------------------------

    def vm(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(PROVISIONING / "vm"), *args],
            capture_output=True,
            text=True,
            env={**self.env, **env},
            timeout=60,
        )

    def calls(self) -> list[list[str]]:
        log = Path(str(self.state_file) + ".log")
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    def forget_calls(self) -> None:
        Path(str(self.state_file) + ".log").unlink(missing_ok=True)

    def commands(self, *words: str) -> list[list[str]]:
        """The calls that begin with these words (after `compute`)."""
        return [c for c in self.calls() if c[1 : 1 + len(words)] == list(words)]


# --- the VM's process table, logins and sockets -------------------------------------------------------------

# `ps -e -ww -o args=` on Ubuntu 24.04 (OpenSSH 9.6): sshd retitles its processes with setproctitle(), so the
# listener, a connection before authentication and an authenticated session read as below (openssh-portable:
# sshd.c "[listener] %d of %d-%d startups", "[accepted]", "[net]"; monitor.c "%s [priv]"; auth2.c "%s [net]";
# session.c "%s@%s" with the session's ttys or "notty"). OpenSSH 9.8+ names the per-connection process
# sshd-session.
PS_SYSTEM = """\
/sbin/init
[kthreadd]
[rcu_gp]
/usr/lib/systemd/systemd-journald
/usr/lib/systemd/systemd-logind
/usr/bin/google_guest_agent
sshd: /usr/sbin/sshd -D [listener] 2 of 10-100 startups
/usr/bin/python3 /usr/bin/networkd-dispatcher --run-startup-triggers
"""
PS_SCANNERS = """\
sshd: root [priv]
sshd: root [net]
sshd: unknown [priv]
sshd: unknown [net]
sshd: [accepted]
sshd: [net]
"""
PS_ALICE_TTY = """\
sshd: alice [priv]
sshd: alice@pts/0
-bash
tmux: client
tmux: server
"""
PS_ALICE_NOTTY = """\
sshd: alice [priv]
sshd: alice@notty
"""
PS_ALICE_TUNNEL = """\
sshd: alice [priv]
sshd: alice
"""
PS_ALICE_NEW_OPENSSH = """\
sshd-session: alice [priv]
sshd-session: alice@pts/1
"""
PS_TMUX_LEFT_BEHIND = """\
tmux: server
/opt/stablelm-tui/app/.venv/bin/python /opt/stablelm-tui/app/.venv/bin/stablelm-tui chat --preset ja-alpha
"""
# `ss -Htn state established '( sport = :22 )'`: no header (-H), no State column (a state filter drops it).
SS_SCANNERS = """\
0      0          10.146.0.2:22      61.177.172.136:45126
0      0          10.146.0.2:22      218.92.0.112:60322
0      0          10.146.0.2:22      141.98.11.19:52840
"""
# `who`: user, line, login time, (host); only sessions that got a terminal are logged in utmp.
WHO_ALICE = "alice    pts/0        2026-11-28 09:00 (203.0.113.7)\n"


def install_vm_tools(bin_dir: Path, fake_dir: Path) -> None:
    """ps, who, ss, nvidia-smi, shutdown reading and writing files in `fake_dir` (ps.txt, who.txt, ss.txt,
    gpu.txt; shutdown appends to actions.log)."""
    make_fake(
        bin_dir,
        "ps",
        # Only the invocation the watchdog uses is modelled; anything else fails loudly.
        '[[ "$*" == "-e -ww -o args=" ]] || { echo "fake ps: unexpected arguments: $*" >&2; exit 1; }\n'
        'cat "$FAKE_DIR/ps.txt"\n',
    )
    make_fake(bin_dir, "who", 'cat "$FAKE_DIR/who.txt" 2>/dev/null || true\n')
    make_fake(bin_dir, "ss", 'cat "$FAKE_DIR/ss.txt" 2>/dev/null || true\n')
    make_fake(bin_dir, "nvidia-smi", '[[ -s "$FAKE_DIR/gpu.txt" ]] || exit 9\ncat "$FAKE_DIR/gpu.txt"\n')
    make_fake(bin_dir, "shutdown", 'echo "shutdown $*" >>"$FAKE_DIR/actions.log"\n')


# --- the VM's metadata server and package tools -------------------------------------------------------------

# curl against the metadata server, kept as files under $FAKE_META: GET answers a file's content (404, which
# curl -f turns into exit 22, when there is none); PUT to instance/guest-attributes/NS/KEY stores the body. Like
# the real server it refuses requests without the Metadata-Flavor header.
FAKE_CURL = r"""
import os, sys
args = sys.argv[1:]
url, method, data, headers = args[-1], "GET", None, []
i = 0
while i < len(args) - 1:
    if args[i] == "-X":
        method = args[i + 1]; i += 1
    elif args[i] == "-H":
        headers.append(args[i + 1]); i += 1
    elif args[i] == "--data-binary":
        data = sys.stdin.read() if args[i + 1] == "@-" else args[i + 1]; i += 1
    elif args[i] == "--retry":
        i += 1
    i += 1
if "Metadata-Flavor: Google" not in headers:
    sys.exit(22)
path = os.path.join(os.environ["FAKE_META"], url[len(os.environ["FAKE_META_URL"]) + 1:])
if method == "PUT":
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        fh.write(data or "")
    sys.exit(0)
if not os.path.isfile(path):
    sys.exit(22)
sys.stdout.write(open(path).read())
"""

# apt-get as apt 2.x answers (apt-pkg/contrib/fileutl.cc GetLock, apt-pkg/deb/debsystem.cc): `update` takes the
# lists lock without waiting; `install` waits for the dpkg frontend lock up to DPkg::Lock::Timeout. The locks are
# held by another apt for the first $FAKE_APT_BUSY calls; packages in $FAKE_APT_MISSING do not exist; installed
# packages are added to $FAKE_DIR/installed (what the fake dpkg reads). Installing nvidia-utils-N-server makes the
# fake nvidia-smi report driver N.
FAKE_APT_GET = r"""
import os, sys
args = sys.argv[1:]
fake = os.environ["FAKE_DIR"]
with open(os.path.join(fake, "apt.log"), "a") as log:
    log.write(" ".join(args) + "\n")
timeout = 0
words = []
i = 0
while i < len(args):
    if args[i] == "-o":
        key, _, value = args[i + 1].partition("=")
        if key.lower() == "dpkg::lock::timeout":
            timeout = int(value)
        i += 2
        continue
    if not args[i].startswith("-"):
        words.append(args[i])
    i += 1
counter = os.path.join(fake, "apt-busy-count")
busy_for = int(os.environ.get("FAKE_APT_BUSY", "0"))
seen = int(open(counter).read()) if os.path.exists(counter) else 0
open(counter, "w").write(str(seen + 1))
busy = seen < busy_for
held = " It is held by process 1234 (unattended-upgr)"
if words[0] == "update":
    if busy:
        print("E: Could not get lock /var/lib/apt/lists/lock." + held, file=sys.stderr)
        print("N: Be aware that removing the lock file is not a solution and may break your system.", file=sys.stderr)
        print("E: Unable to lock directory /var/lib/apt/lists/", file=sys.stderr)
        sys.exit(100)
    print("Hit:1 http://asia-northeast1.gce.archive.ubuntu.com/ubuntu noble InRelease")
    print("Reading package lists...")
    sys.exit(0)
if words[0] == "install":
    if busy and timeout <= 0:
        print("E: Could not get lock /var/lib/dpkg/lock-frontend." + held, file=sys.stderr)
        print("N: Be aware that removing the lock file is not a solution and may break your system.", file=sys.stderr)
        print("E: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), is another process using it?", file=sys.stderr)
        sys.exit(100)
    if busy:
        print("Waiting for cache lock: Could not get lock /var/lib/dpkg/lock-frontend." + held)
    print("Reading package lists...")
    missing = os.environ.get("FAKE_APT_MISSING", "").split()
    for pkg in words[1:]:
        if pkg in missing:
            print("E: Unable to locate package " + pkg, file=sys.stderr)
            sys.exit(100)
    with open(os.path.join(fake, "installed"), "a") as fh:
        for pkg in words[1:]:
            fh.write(pkg + "\n")
            if pkg.startswith("nvidia-utils-"):
                open(os.path.join(fake, "driver.txt"), "w").write(pkg.split("-")[2] + ".95.05\n")
    sys.exit(0)
sys.exit(f"fake apt-get: {words[0]} is not modelled")
"""

# `dpkg -s PKG`: the status stanza for an installed package, else dpkg-query's message and exit 1.
FAKE_DPKG = r"""
[[ "$1" == -s ]] || { echo "fake dpkg: $* is not modelled" >&2; exit 2; }
if grep -qx "$2" "$FAKE_DIR/installed" 2>/dev/null; then
    printf 'Package: %s\nStatus: install ok installed\n' "$2"
else
    echo "dpkg-query: package '$2' is not installed and no information is available" >&2
    echo "Use dpkg --info (= dpkg-deb --info) to examine archive files." >&2
    exit 1
fi
"""

# nvidia-smi --query-gpu=driver_version|utilization.gpu --format=csv,noheader[,nounits]: one line per GPU; no driver
# (no driver.txt) fails as the real one does when it cannot talk to a driver.
FAKE_NVIDIA_SMI = r"""
[[ -s "$FAKE_DIR/driver.txt" ]] || { echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver." >&2; exit 9; }
case "$*" in
    *driver_version*) cat "$FAKE_DIR/driver.txt" ;;
    *) cat "$FAKE_DIR/gpu.txt" 2>/dev/null || echo 0 ;;
esac
"""


def install_setup_tools(bin_dir: Path) -> None:
    """curl (metadata server), apt-get, dpkg, nvidia-smi, and recorders for systemctl, ubuntu-drivers, modprobe,
    uname -r; everything they record goes to $FAKE_DIR/calls.log."""
    make_fake(bin_dir, "curl", FAKE_CURL, python=True)
    make_fake(bin_dir, "apt-get", FAKE_APT_GET, python=True)
    make_fake(bin_dir, "dpkg", FAKE_DPKG)
    make_fake(bin_dir, "nvidia-smi", FAKE_NVIDIA_SMI)
    for tool in ("systemctl", "modprobe", "shutdown"):
        make_fake(bin_dir, tool, f'echo "{tool} $*" >>"$FAKE_DIR/calls.log"\n')
    # No prebuilt module for this kernel: ubuntu-drivers gives up, as on a kernel Canonical has not built for.
    make_fake(bin_dir, "ubuntu-drivers", 'echo "ubuntu-drivers $*" >>"$FAKE_DIR/calls.log"\nexit 1\n')
    make_fake(bin_dir, "uname", '[[ "$1" == -r ]] && echo 6.8.0-1015-gcp || exec /usr/bin/uname "$@"\n')
