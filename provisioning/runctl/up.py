"""`cloudrun up`: everything the service needs, created once and labelled, then the image build and the deploy.

Safe to run again: what exists is kept (the weights are uploaded only when the bucket lacks the preset's marker),
the image is rebuilt from this checkout and a new revision deployed with the same guarded flags.
"""

from __future__ import annotations

import argparse
import secrets

from runctl import commands
from runctl.commands import DeploySpec
from runctl.context import Context
from runctl.errors import RunError
from runctl.names import (
    MAX_TIMEOUT_S,
    MIN_CPU,
    MIN_MEMORY_GIB,
    Names,
    check_project,
    check_region,
    check_service,
    parse_memory_gib,
)
from runctl.service import parse_one, public_members

MAX_CPU = 8
MAX_MEMORY_GIB = 32


def check_flags(args: argparse.Namespace) -> None:
    """The guards that need no cloud call: they refuse before anything is created."""
    if args.allow_unauthenticated:
        raise RunError(
            "refusing public access: the service is reachable only by identities with roles/run.invoker "
            "(you, through `provisioning/cloudrun proxy`); see docs/cloudrun.md for sharing it with someone"
        )
    check_region(args.region)
    check_service(args.service)
    if args.min_instances < 0:
        raise RunError("--min-instances cannot be negative")
    if args.min_instances > 0 and not args.yes_keep_warm:
        raise RunError(
            f"refusing --min-instances {args.min_instances}: a warm L4 instance bills every hour, used or not "
            "(about $1,000 a month at 8 CPU/32Gi); pass --yes-keep-warm as well if that is what you want"
        )
    if not MIN_CPU <= args.cpu <= MAX_CPU:
        raise RunError(f"--cpu {args.cpu}: an L4 instance takes {MIN_CPU} to {MAX_CPU} CPUs")
    memory = parse_memory_gib(args.memory)
    if not MIN_MEMORY_GIB <= memory <= MAX_MEMORY_GIB:
        raise RunError(
            f"--memory {args.memory}: an L4 instance takes {MIN_MEMORY_GIB}Gi to {MAX_MEMORY_GIB}Gi"
        )
    if not 1 <= args.timeout <= MAX_TIMEOUT_S:
        raise RunError(f"--timeout {args.timeout}: Cloud Run allows 1 to {MAX_TIMEOUT_S} seconds")
    if args.idle_minutes < 1:
        raise RunError("--idle-minutes must be at least 1")


def refuse_public_existing(ctx: Context, n: Names) -> None:
    """A service someone opened to the world is not redeployed as if nothing happened."""
    if not ctx.exists(commands.service_describe(n.project, n.region, n.service)):
        return
    described = ctx.run_or_fail(
        commands.service_describe(n.project, n.region, n.service), "reading the service"
    )
    if parse_one(described.stdout).invoker_check_off:
        raise RunError(
            f"{n.service} has the invoker IAM check turned off (public to anyone with the URL): refusing to deploy; "
            "`provisioning/cloudrun down` removes it"
        )
    policy = ctx.run_or_fail(
        commands.service_iam_policy(n.project, n.region, n.service), "reading who may invoke"
    )
    public = public_members(policy.stdout)
    if public:
        raise RunError(
            f"{n.service} is public ({', '.join(public)} may invoke it): refusing to deploy; remove the binding with "
            f"`gcloud run services remove-iam-policy-binding {n.service} --region={n.region} "
            f"--member={public[0]} --role=roles/run.invoker` or run `provisioning/cloudrun down`"
        )


def ensure(
    ctx: Context, describe: list[str], create: list[list[str]], what: str, stdin: str | None = None
) -> bool:
    """Create the resource unless `describe` finds it; True when it was created."""
    if ctx.exists(describe):
        ctx.say(f"{what}: exists, kept")
        return False
    for i, argv in enumerate(create):
        ctx.run_or_fail(argv, f"creating {what}", stdin if i == 0 else None)
    ctx.say(
        f"{what}: created" if not ctx.runner.dry_run else f"{what}: created when the describe above fails"
    )
    return True


def cmd_up(args: argparse.Namespace, ctx: Context) -> int:
    check_flags(args)
    project = ctx.project(args.project)
    if not ctx.runner.dry_run:
        check_project(project)
    n = Names(project, args.region, args.service)
    ctx.run_or_fail(commands.enable_apis(project), "enabling the APIs")
    refuse_public_existing(ctx, n)
    ensure(
        ctx,
        commands.repo_describe(n),
        [commands.repo_create(n)],
        f"Artifact Registry repository {n.repository}",
    )
    ensure(ctx, commands.sa_describe(project, n.service_account), [commands.sa_create(n)],
           f"service account {n.service_account}")  # fmt: skip
    # The app token: random, made here, handed to gcloud on stdin; only Secret Manager keeps it.
    ensure(ctx, commands.secret_describe(n), [commands.secret_create(n)], f"secret {n.token_secret} (the app token)",
           stdin=secrets.token_urlsafe(32))  # fmt: skip
    ctx.run_or_fail(commands.secret_grant(n, n.token_secret), "letting the service read the app token")
    for bucket, role, what in (
        (n.bucket, "objectViewer", "read the weights"),
        (n.state_bucket, "objectUser", "keep the app's files"),
    ):
        create = [commands.bucket_create(n, bucket), commands.bucket_label(n, bucket)]
        ensure(ctx, commands.bucket_describe(n, bucket), create, f"bucket gs://{bucket}")
        ctx.run_or_fail(commands.bucket_grant(n, bucket, role), f"letting the service {what}")
    ctx.say(f"building the image {n.image} with Cloud Build (several minutes)")
    ctx.run_or_fail(commands.build_image(n), "building the image")
    if ctx.exists(commands.weights_present(n, args.preset)):
        ctx.say(f"weights of preset {args.preset}: already in gs://{n.bucket}, kept")
    else:
        ctx.say(f"uploading the weights of preset {args.preset} to gs://{n.bucket} with Cloud Build (once)")
        ctx.run_or_fail(commands.build_weights(n, args.preset, args.hf_token_secret), "uploading the weights")
    spec = DeploySpec(
        n, args.preset, args.cpu, args.memory, args.timeout, args.min_instances, args.idle_minutes
    )
    ctx.run_or_fail(commands.deploy(spec), "deploying")
    hourly = ctx.price_table().instance_hourly(n.region, args.cpu, parse_memory_gib(args.memory))
    ctx.say(f"{n.service} is deployed in {n.region}: private, scaled to zero until you open it.")
    ctx.say("  open it: provisioning/cloudrun proxy   (then http://localhost:8080)")
    ctx.say(
        f"  the app token: gcloud secrets versions access latest --secret={n.token_secret} --project={project}"
    )
    ctx.say(
        f"  a running instance costs about ${hourly.usd:.2f}/h ({ctx.price_table().yen(hourly.usd)}); it stops "
        "about 15 minutes after the last tab closes. `provisioning/cloudrun status` shows what it has cost."
    )
    return 0
