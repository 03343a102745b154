"""The adapter's card: what it was trained on, how, with what result, and the base model it belongs to.

Written beside the PEFT files as JSON (CARD_FILE, read back by tui.engine.adapters to refuse the adapter on
another model) and as a short README.md a person reads.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tui.engine.adapters import CARD_FILE
from tui.engine.identity import ModelIdentity
from tui.train.loop import LoopState
from tui.train.plan import TrainPlan

CARD_FORMAT = "stablelm-tui adapter card 1"


def build_card(
    plan: TrainPlan, state: LoopState, base: ModelIdentity, runtime: dict[str, Any]
) -> dict[str, Any]:
    initial = state.history[0]["heldout_loss"] if state.history else None
    return {
        "format": CARD_FORMAT,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "base": base.as_dict(),
        "preset": plan.preset.name,
        "mode": plan.options.mode,
        "template": {"name": plan.template_name, "identity": plan.template_identity},
        "tokenizer": plan.tokenizer_identity,
        "data": {
            "files": [f.as_dict() for f in plan.files],
            "fingerprint": plan.data_fingerprint,
            "train_sequences": len(plan.train),
            "train_tokens": plan.train_tokens,
            "train_loss_tokens": sum(s.loss_tokens for s in plan.train),
            "heldout_sequences": len(plan.heldout),
            "heldout_tokens": sum(len(s.ids) for s in plan.heldout),
            "heldout_loss_tokens": sum(s.loss_tokens for s in plan.heldout),
        },
        "settings": plan.settings() | runtime,
        "results": {
            "steps": state.step,
            "final_train_loss": state.train_loss,
            "initial_heldout_loss": initial,
            "final_heldout_loss": state.heldout_loss,
            "resumed_from_steps": state.resumed_from,
            "seconds": round(state.seconds, 1),
            "tokens_seen": state.tokens,
        },
        "heldout_history": state.history,
    }


def _readme(card: dict[str, Any]) -> str:
    results, data, settings = card["results"], card["data"], card["settings"]

    def loss(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.4f}"

    files = "\n".join(
        f"| {f['path']} | {f['kind']} | {f['documents']} | {f['tokens']:,} | {f['loss_tokens']:,} |"
        for f in data["files"]
    )
    return f"""# LoRA adapter for {card["base"]["ref"]}

Trained by `stablelm-tui train` on {card["created"]} ({card["preset"]} preset, {card["mode"]} mode, template
`{card["template"]["name"]}`). Load it with `stablelm-tui generate --adapter DIR`, the preset field `adapter`,
or plain PEFT: `PeftModel.from_pretrained(base_model, DIR)`. It refuses other base models: the base's config
hash is `{card["base"]["config_sha256"][:16]}…` and its weights hash `{card["base"]["weights_sha256"][:16]}…`.

| held-out loss before | after | final train loss | steps | seconds |
| --- | --- | --- | --- | --- |
| {loss(results["initial_heldout_loss"])} | {loss(results["final_heldout_loss"])} | \
{loss(results["final_train_loss"])} | {results["steps"]} | {results["seconds"]} |

Settings: rank {settings["rank"]}, alpha {settings["alpha"]}, learning rate {settings["lr"]}, at most
{settings["max_tokens"]} tokens per sequence, quantize {settings["quantize"] or "no"}, dtype {settings["dtype"]},
device {settings["device_used"]}.

| file | kind | documents | tokens | learned tokens |
| --- | --- | --- | --- | --- |
{files}

{data["train_sequences"]} training sequences ({data["train_tokens"]:,} tokens), {data["heldout_sequences"]} held
out ({data["heldout_tokens"]:,} tokens). All figures: {CARD_FILE}.
"""


def write_card(folder: Path, card: dict[str, Any]) -> None:
    (folder / CARD_FILE).write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (folder / "README.md").write_text(_readme(card), encoding="utf-8")
