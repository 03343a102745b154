"""The vLLM launcher's choices: the command line it builds and the CPU build's memory and core settings."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tui.errors import UserError
from tui.presets import load_settings
from tui.serving.engines import ServePlan
from tui.serving.vllm_launcher import (
    CpuSettings,
    GpuPlacement,
    choose_cpu_settings,
    place_on_gpus,
    vllm_argv,
    vllm_env,
)

GIB = 1024**3


def plan(**fields: object) -> ServePlan:
    preset = load_settings().preset("demo")
    return ServePlan(preset=preset, modes=("base", "instruct"), host="0.0.0.0", port=8100, **fields)  # type: ignore[arg-type]


def flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_the_command_line_serves_the_preset_name_on_the_mode_port_with_token_details() -> None:
    argv = vllm_argv(plan(tensor_parallel_size=2, dtype="float32"), "instruct", Path("/srv/m"), 8101, None)
    assert argv[:3] == [sys.executable, "-m", "vllm.entrypoints.openai.api_server"]
    assert flag(argv, "--model") == "/srv/m" and flag(argv, "--served-model-name") == "demo-instruct"
    assert flag(argv, "--host") == "0.0.0.0" and flag(argv, "--port") == "8101"
    assert flag(argv, "--tensor-parallel-size") == "2" and flag(argv, "--pipeline-parallel-size") == "1"
    assert flag(argv, "--dtype") == "float32" and flag(argv, "--generation-config") == "vllm"
    assert "--enable-prompt-tokens-details" in argv
    assert "--gpu-memory-utilization" not in argv  # a GPU machine: vLLM's own default
    assert "--trust-remote-code" not in argv


def test_extra_engine_arguments_come_last_so_they_win() -> None:
    argv = vllm_argv(plan(extra_args=("--max-model-len", "512")), "base", Path("/m"), 8100, None)
    assert argv[-2:] == ["--max-model-len", "512"]


def test_on_cpu_the_memory_fraction_and_the_mp_backend_for_several_workers() -> None:
    cpu = CpuSettings(kv_cache_gib=2, memory_fraction=0.3, threads_bind="0|1")
    argv = vllm_argv(plan(tensor_parallel_size=2), "base", Path("/m"), 8100, cpu)
    assert flag(argv, "--gpu-memory-utilization") == "0.3"
    assert flag(argv, "--distributed-executor-backend") == "mp"
    env = vllm_env(cpu, "sekrit", {"PATH": "/bin"})
    assert env == {
        "PATH": "/bin",
        "VLLM_API_KEY": "sekrit",  # in the environment, never on a command line `ps` shows
        "VLLM_CPU_KVCACHE_SPACE": "2",
        "VLLM_CPU_OMP_THREADS_BIND": "0|1",
    }
    assert "sekrit" not in " ".join(argv)


@pytest.mark.parametrize(
    ("ranks", "total", "available", "cpus", "expected"),
    [
        pytest.param(1, 24, 18, [0, 1], CpuSettings(2, 0.35, None), id="this-machine-tp1"),
        pytest.param(2, 24, 18, [0, 1], CpuSettings(1, 0.35, "0|1"), id="this-machine-tp2"),
        pytest.param(4, 256, 200, list(range(16)), CpuSettings(6, 0.35, "0-3|4-7|8-11|12-15"), id="big-tp4"),
        pytest.param(1, 8, 2, [0], CpuSettings(1, 0.1, None), id="small-free"),
        pytest.param(1, 2048, 2000, [0], CpuSettings(64, 0.45, None), id="kv-capped"),
    ],
)
def test_cpu_settings_fit_the_free_memory_and_give_each_worker_its_cores(
    ranks: int, total: int, available: int, cpus: list[int], expected: CpuSettings
) -> None:
    assert choose_cpu_settings(ranks, total * GIB, available * GIB, cpus, {}) == expected


def test_cpu_settings_the_user_set_are_kept() -> None:
    env = {"VLLM_CPU_KVCACHE_SPACE": "3", "VLLM_CPU_OMP_THREADS_BIND": "nobind"}
    assert choose_cpu_settings(2, 24 * GIB, 18 * GIB, [0, 1], env) == CpuSettings(3, 0.35, "nobind")


def test_more_workers_than_cores_is_one_sentence() -> None:
    with pytest.raises(UserError, match=r"needs a core per worker: 4 workers .* but 2 cores here"):
        choose_cpu_settings(4, 24 * GIB, 18 * GIB, [0, 1], {})


def test_too_little_free_memory_is_one_sentence() -> None:
    with pytest.raises(UserError, match="too little for 2 vLLM workers"):
        choose_cpu_settings(2, 8 * GIB, GIB, [0, 1], {})


@pytest.mark.parametrize(
    ("servers", "index", "ranks", "gpus", "env", "expected"),
    [
        pytest.param(1, 0, 2, 2, {}, None, id="one-server-vllm-decides"),
        pytest.param(2, 1, 2, 4, {}, GpuPlacement("2,3", None), id="both-modes-gpus-of-their-own"),
        pytest.param(
            2, 1, 1, 4, {"CUDA_VISIBLE_DEVICES": "5,7"}, GpuPlacement("7", None), id="within-visible"
        ),
        pytest.param(2, 0, 1, 1, {}, GpuPlacement(None, 0.45), id="both-modes-share-one-gpu"),
    ],
)
def test_with_two_models_on_a_gpu_machine_each_server_gets_gpus_or_a_share(
    servers: int, index: int, ranks: int, gpus: int, env: dict[str, str], expected: GpuPlacement | None
) -> None:
    assert place_on_gpus(servers, index, ranks, gpus, env) == expected


def test_a_shared_gpu_is_a_memory_fraction_and_gpus_of_its_own_are_visible_devices() -> None:
    shared = vllm_argv(plan(), "base", Path("/m"), 8100, None, GpuPlacement(None, 0.45))
    assert flag(shared, "--gpu-memory-utilization") == "0.45"
    assert vllm_env(None, None, {}, GpuPlacement("2,3", None)) == {"CUDA_VISIBLE_DEVICES": "2,3"}


def adapter_dir(folder: Path, rank: int, rank_pattern: dict[str, int] | None = None) -> Path:
    """The two files vLLM reads from an adapter directory (the weights' content does not matter here)."""
    import json

    folder.mkdir()
    config = {"peft_type": "LORA", "r": rank, "rank_pattern": rank_pattern or {}, "lora_alpha": 8}
    (folder / "adapter_config.json").write_text(json.dumps(config))
    (folder / "adapter_model.safetensors").write_bytes(b"")
    return folder


def test_a_modes_adapter_is_served_as_its_plus_lora_name_with_the_model_as_parent(tmp_path: Path) -> None:
    import json

    adapter = adapter_dir(tmp_path / "a", rank=4)
    argv = vllm_argv(plan(adapters=(("base", str(adapter)),)), "base", Path("/m"), 8100, None)
    assert "--enable-lora" in argv and flag(argv, "--max-loras") == "1"
    assert flag(argv, "--max-lora-rank") == "8"  # the smallest rank vLLM accepts that holds 4
    assert json.loads(flag(argv, "--lora-modules")) == {
        "name": "demo-base+lora",
        "path": str(adapter.resolve()),
        "base_model_name": "demo-base",
    }
    other = vllm_argv(plan(adapters=(("base", str(adapter)),)), "instruct", Path("/m"), 8101, None)
    assert "--enable-lora" not in other and "--lora-modules" not in other


@pytest.mark.parametrize(
    ("rank", "pattern", "max_rank"),
    [(1, None, "1"), (16, None, "16"), (8, {"dense": 40}, "64"), (300, None, "320")],
)
def test_the_max_lora_rank_is_the_smallest_vllm_allows_for_the_adapters_largest_rank(
    tmp_path: Path, rank: int, pattern: dict[str, int] | None, max_rank: str
) -> None:
    adapter = adapter_dir(tmp_path / "a", rank=rank, rank_pattern=pattern)
    argv = vllm_argv(plan(adapters=(("instruct", str(adapter)),)), "instruct", Path("/m"), 8100, None)
    assert flag(argv, "--max-lora-rank") == max_rank


def test_an_adapter_rank_vllm_cannot_serve_is_one_sentence(tmp_path: Path) -> None:
    adapter = adapter_dir(tmp_path / "a", rank=1024)
    with pytest.raises(
        UserError, match=r"has rank 1024, above the 512 vLLM serves: serve it with --engine local"
    ):
        vllm_argv(plan(adapters=(("base", str(adapter)),)), "base", Path("/m"), 8100, None)
