"""The VM shapes `vm up --profile` knows, and the zones tried for each, in order.

Zone lists are the fallback when `gcloud compute accelerator-types list` cannot be asked (dry runs) or fails;
Tokyo and Seoul come first because the user works from Japan, then the big US regions where spot capacity for
these GPUs is usually easiest to find. No list ever reaches outside the regions asked for.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    machine_type: str
    gpu: str
    """The accelerator type as gcloud names it (also the key in the price table)."""
    gpu_count: int
    attach_gpu: bool
    """N1 machines take the GPU as a separate `--accelerator`; G2 and A2 machine types come with theirs."""
    description: str
    regions: tuple[str, ...]
    """Preferred regions, best first; discovered zones are sorted by this."""
    zones: tuple[str, ...]
    """Zones known to offer the GPU, tried in order when discovery is not possible."""
    boot_disk_gb: int = 100


PROFILES: dict[str, Profile] = {
    "t4": Profile(
        name="t4",
        machine_type="n1-highmem-8",
        gpu="nvidia-tesla-t4",
        gpu_count=1,
        attach_gpu=True,
        description="T4 16 GB on n1-highmem-8 (8 vCPU, 52 GB): the 7B models in fp16, short contexts",
        regions=("asia-northeast1", "asia-northeast3", "us-central1", "us-west1", "us-east1"),
        zones=(
            "asia-northeast1-a",
            "asia-northeast1-c",
            "asia-northeast3-b",
            "asia-northeast3-c",
            "us-central1-a",
            "us-central1-b",
            "us-central1-c",
            "us-central1-f",
            "us-west1-a",
            "us-west1-b",
            "us-east1-c",
            "us-east1-d",
        ),
    ),
    "l4": Profile(
        name="l4",
        machine_type="g2-standard-8",
        gpu="nvidia-l4",
        gpu_count=1,
        attach_gpu=False,
        description="L4 24 GB on g2-standard-8 (8 vCPU, 32 GB): the 7B models in bf16 with room for long contexts",
        regions=("asia-northeast1", "asia-northeast3", "us-central1", "us-west1", "us-east1"),
        zones=(
            "asia-northeast1-a",
            "asia-northeast1-c",
            "asia-northeast3-a",
            "asia-northeast3-b",
            "us-central1-a",
            "us-central1-b",
            "us-central1-c",
            "us-west1-a",
            "us-west1-b",
            "us-east1-b",
            "us-east1-c",
            "us-east1-d",
        ),
    ),
    "a100": Profile(
        name="a100",
        machine_type="a2-highgpu-1g",
        gpu="nvidia-tesla-a100",
        gpu_count=1,
        attach_gpu=False,
        description="A100 40 GB on a2-highgpu-1g (12 vCPU, 85 GB): both 7B models loaded at once, long runs",
        regions=("asia-northeast1", "asia-northeast3", "us-central1", "us-west1", "us-east1"),
        zones=(
            "asia-northeast1-a",
            "asia-northeast1-c",
            "asia-northeast3-a",
            "asia-northeast3-b",
            "us-central1-a",
            "us-central1-b",
            "us-central1-c",
            "us-central1-f",
            "us-west1-b",
            "us-east1-b",
        ),
    ),
}


# Machine types whose GPUs come with them (G2, A2): the instance lists them in guestAccelerators, and Google bills
# them apart from the machine's vCPUs and memory.
BUNDLED_GPUS: dict[str, tuple[str, int]] = {
    p.machine_type: (p.gpu, p.gpu_count) for p in PROFILES.values() if not p.attach_gpu
}


def region_of(zone: str) -> str:
    """`asia-northeast1-a` -> `asia-northeast1`."""
    return zone.rsplit("-", 1)[0]


def order_zones(discovered: list[str], regions: tuple[str, ...]) -> list[str]:
    """The discovered zones that lie in `regions`, in the order of `regions`, each region's zones by name.

    Other regions are left out on purpose: the TUI is used over SSH from Japan, so a far region is a choice the
    user makes with `--regions`, not something `up` drifts into.
    """
    rank = {region: i for i, region in enumerate(regions)}
    kept = {z for z in discovered if region_of(z) in rank}
    return sorted(kept, key=lambda z: (rank[region_of(z)], z))


def fallback_zones(profile: Profile, regions: tuple[str, ...]) -> list[str]:
    """The profile's built-in zones that lie in `regions`, in the order of `regions`; empty when none do."""
    return order_zones(list(profile.zones), regions)
