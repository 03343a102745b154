"""Every path that starts a VM goes through here: it re-applies the hard limit, starts, and checks the instance
really has one, so `vm` never leaves a VM running without Google's hard limit.

Google's own help for --max-run-duration says the termination timestamp is removed when the VM stops and set again
from maxRunDuration when it runs again; re-applying is cheap insurance against a VM whose limit was cleared or
never set (made by hand, or by an older `vm`). Compute Engine changes scheduling only on a stopped VM, so a running
VM without a limit is stopped first.
"""

from __future__ import annotations

from vmctl import gcloud
from vmctl.context import Context
from vmctl.errors import VmError
from vmctl.instances import Instance, parse_one


def start_with_limit(
    ctx: Context,
    name: str,
    zone: str,
    current: Instance | None,
    max_run_duration: str,
    termination_action: str,
    project: str | None,
) -> Instance | None:
    """Make `name` run with a hard limit of `max_run_duration`; returns the instance as Google describes it after
    the start (None in a dry run). `current` is what a listing said (None when not looked up)."""
    seconds = gcloud.parse_duration(max_run_duration)
    status = current.status if current else None
    if current and status == "RUNNING" and current.has_hard_limit:
        ctx.say(f"{name} is already running with a hard limit; nothing to start")
        return current
    if status == "RUNNING":
        ctx.warn(
            f"{name} is running WITHOUT a hard limit; stopping it to set one "
            "(Compute Engine changes the limit only on a stopped VM)"
        )
        ctx.run_or_fail(gcloud.stop_command(name, zone, project), f"stopping {name}")
    elif status is not None and status != "TERMINATED":
        raise VmError(f"{name} is {status}: try again once it is RUNNING or TERMINATED (stopped)")
    result = ctx.runner.run(
        gcloud.set_limit_command(name, zone, max_run_duration, termination_action, project)
    )
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines()
        raise VmError(
            f"setting the hard limit on {name} failed ({lines[-1] if lines else 'exit ' + str(result.returncode)}); "
            f"{name} stays stopped: vm does not start a VM without one"
        )
    ctx.run_or_fail(gcloud.start_command(name, zone, project), f"starting {name}")
    return verify_limit(ctx, name, zone, project, seconds)


def verify_limit(
    ctx: Context, name: str, zone: str, project: str | None, seconds: int, output: str | None = None
) -> Instance | None:
    """Read the instance (from `output` when a create already printed it) and stop it if it has no hard limit."""
    if ctx.runner.dry_run:
        ctx.say(f"a real run reads {name} back and stops it again if it has no hard limit")
        return None
    if output is None or not output.strip():
        output = ctx.run_or_fail(gcloud.describe_command(name, zone, project), f"reading {name} back").stdout
    instance = parse_one(output)
    if not instance.has_hard_limit:
        ctx.runner.run(gcloud.stop_command(name, zone, project))
        raise VmError(
            f"{name} came up without a hard limit although {gcloud.format_duration(seconds)} was asked for; "
            f"vm stopped it again: check it with `gcloud compute instances describe {name} --zone={zone}`"
        )
    return instance
