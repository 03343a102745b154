"""`stablelm-tui novel` end to end through the real demo model: plan, write, import, undo/redo, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tui.cli import main
from tui.novel.assemble import NovelPlanner
from tui.novel.files import read_story, save_story
from tui.novel.history import prompt_digest
from tui.novel.ledger import check_invariants
from tui.novel.story import LoreEntry, Story
from tui.tokenizers import load_tokenizer

pytestmark = pytest.mark.usefixtures("demo_models")
FIXTURES = Path(__file__).parents[1] / "fixtures" / "novel"
OPENING = (
    "昔々、ある村にアリスという少女がいた。\n彼女は魔法が好きだった。\n「ねえ、ボブ」とアリスは言った。\n"
)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["novel", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def story_file(tmp_path: Path, story: Story | None = None, name: str = "a.story.json") -> Path:
    path = tmp_path / name
    save_story(path, story or Story(text=OPENING, memory="ファンタジー小説。"))
    return path


def test_new_creates_a_private_story_and_never_overwrites(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "b.story.json"
    assert run(capsys, "new", str(path), "--text", "始まり。")[0] == 0
    assert read_story(path) == Story(text="始まり。")
    assert path.stat().st_mode & 0o777 == 0o600
    code, _, err = run(capsys, "new", str(path))
    assert code == 2 and "already exists" in err


def test_plan_json_is_the_exact_ledger(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    lore = (
        LoreEntry(keys=("ｱﾘｽ",), content="アリス：少女。", name="Alice"),
        LoreEntry(keys=("竜",), content="竜。"),
    )
    path = story_file(tmp_path, Story(text=OPENING, memory="M", note="[冒険]", lore=lore))
    code, out, _ = run(capsys, "plan", str(path), "--max-new-tokens", "100", "--json")
    assert code == 0
    data = json.loads(out)
    assert list(data) == ["window", "reserve", "budget", "total_tokens", "token_ids", "prompt", "pieces"]
    assert (data["window"], data["reserve"], data["budget"]) == (2048, 100, 1948)
    tok = load_tokenizer("demo:base")
    assert tok.decode(data["token_ids"]) == data["prompt"]
    sent = [p for p in data["pieces"] if p["status"] in ("included", "partial")]
    assert data["total_tokens"] == len(data["token_ids"]) == sum(p["tokens"] for p in sent)
    lore_reasons = {p["entry"]: (p["status"], p["reason"]) for p in data["pieces"] if p["kind"] == "lore"}
    assert lore_reasons[0][0] == "included" and lore_reasons[0][1].startswith("key 'ｱﾘｽ' at story token ")
    assert lore_reasons[1] == ("skipped", "no key in the last 1024 tokens or the 脚注")


def test_plan_table_numbers_rows_and_entries_from_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = story_file(
        tmp_path, Story(text=OPENING, lore=(LoreEntry(keys=("アリス",), content="少女。", name="Alice"),))
    )
    code, out, _ = run(capsys, "plan", str(path))
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("preset demo: ")
    rows = [line.split() for line in lines[2:5]]
    assert [row[0] for row in rows] == ["1", "2", "3"]
    assert rows[1][:4] == ["2", "lore", "#1", "Alice"]


def test_plan_that_cannot_be_sent_exits_1_and_says_why(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    huge = LoreEntry(content="世界設定。" * 1000, always=True)
    path = story_file(tmp_path, Story(text=OPENING, lore=(huge,)))
    code, out, err = run(capsys, "plan", str(path), "--json")
    assert code == 1 and json.loads(out)["pieces"]
    assert "never dropped" in err and err.count("\n") == 1


def test_write_appends_and_the_original_text_stays_a_prefix(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = story_file(tmp_path)
    code, out, err = run(capsys, "write", str(path), "--max-new-tokens", "24", "--seed", "3", "--stats")
    assert code == 0, err
    story = read_story(path)
    assert story.text == OPENING + out and out
    item = story.history[-1]
    assert (item.state, item.finish, item.seed, item.start, item.text) == (
        "applied",
        "length",
        3,
        len(OPENING),
        out,
    )
    assert len(item.token_ids) == 24 and item.model == "demo:base"
    stats = json.loads(err.strip().splitlines()[-1])
    assert stats["new_tokens"] == 24 and stats["prefill_tokens"] == item.prompt_tokens
    assert path.stat().st_mode & 0o777 == 0o600


def test_greedy_is_reproducible_and_a_seed_reproduces_sampling(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    outputs = {}
    for name, flags in (
        ("g1", ["--greedy"]),
        ("g2", ["--greedy"]),
        ("s1", ["--seed", "9"]),
        ("s2", ["--seed", "9"]),
    ):
        path = story_file(tmp_path, name=f"{name}.story.json")
        code, out, _ = run(capsys, "write", str(path), "--max-new-tokens", "20", *flags)
        assert code == 0
        outputs[name] = out
        assert read_story(path).history[-1].seed == (None if name[0] == "g" else 9)
    assert outputs["g1"] == outputs["g2"] and outputs["s1"] == outputs["s2"]


def test_banned_words_never_appear(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Ban pieces of what the model writes unbanned; with the bans it must write around them, every time."""
    free = story_file(tmp_path, name="free.story.json")
    assert run(capsys, "write", str(free), "--max-new-tokens", "40", "--greedy")[0] == 0
    unbanned = read_story(free).history[-1].text
    words = sorted(
        {unbanned[i : i + 2] for i in range(0, len(unbanned) - 1, 3) if unbanned[i : i + 2].strip()}
    )[:6]
    assert words
    for flags in (["--greedy"], ["--seed", "1"], ["--seed", "2"]):
        path = story_file(
            tmp_path, Story(text=OPENING, memory="ファンタジー小説。", banned=tuple(words)), "b.story.json"
        )
        code, out, err = run(capsys, "write", str(path), "--max-new-tokens", "40", *flags)
        assert code == 0, err
        written = read_story(path).history[-1].text
        assert written == out and written
        assert not [w for w in words if w in written], (words, written)
        assert not [w for w in words if w in (OPENING + written)[len(OPENING) - 2 :]], (
            "nor across the boundary"
        )


def test_banned_words_through_a_server_are_refused_before_anything_is_written(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = story_file(tmp_path, Story(text=OPENING, banned=("魔王",)))
    before = path.read_bytes()
    code, _, err = run(
        capsys, "write", str(path), "--base-url", "http://127.0.0.1:9/v1", "--max-new-tokens", "8"
    )
    assert code == 2 and "need the local backend" in err
    assert path.read_bytes() == before


def test_retry_undo_and_redo(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = story_file(tmp_path)
    assert run(capsys, "write", str(path), "--max-new-tokens", "12", "--seed", "1")[0] == 0
    first = read_story(path).history[-1].text
    code, out, _ = run(capsys, "write", str(path), "--max-new-tokens", "12", "--seed", "2", "--retry")
    assert code == 0
    story = read_story(path)
    assert story.text == OPENING + out and [h.state for h in story.history] == ["replaced", "applied"]
    assert out != first
    code, out, _ = run(capsys, "undo", str(path))
    assert code == 0 and read_story(path).text == OPENING and out.startswith("undo: removed")
    assert run(capsys, "redo", str(path))[0] == 0
    assert read_story(path).text == OPENING + story.history[-1].text
    code, _, err = run(capsys, "redo", str(path))
    assert code == 2 and "nothing to redo" in err


def test_import_reports_and_adds_entries(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "new.story.json"
    code, out, _ = run(capsys, "import", str(FIXTURES / "fantasy.lorebook"), "--into", str(path))
    assert code == 0
    assert out.splitlines()[0] == "NovelAI lorebook: 5 entries read, 5 added (5 in the story now)"
    assert "no equivalent here:" in out and "searchRange" in out
    assert len(read_story(path).lore) == 5
    code, out, _ = run(capsys, "import", str(FIXTURES / "world_info.json"), "--into", str(path))
    assert code == 0 and len(read_story(path).lore) == 9
    code, out, _ = run(capsys, "import", str(FIXTURES / "world_info.json"), "--into", str(path))
    assert "0 added (9 in the story now), 4 already there skipped" in out


BAD_FILES = {
    "malformed-json": (b'{\n  "text": "a",\n  oops\n}', "a.story.json:3:3: not valid JSON"),
    "unknown-field": (b'{"text": "a", "notes": "x"}', "unknown field 'notes'"),
    "bad-regex": (b'{"text": "a", "lore": [{"keys": ["("], "regex": true}]}', "lore entry 1, key 1"),
    "too-big": (b'{"text": "' + b"a" * (4 * 1024 * 1024 + 1) + b'"}', "over the 4 MB limit"),
    "always-on-too-big": (
        json.dumps({"text": "a", "lore": [{"content": "長い設定。" * 1000, "always": True}]}).encode(),
        "never dropped",
    ),
    "empty-story": (b"{}", "the story is empty"),
}


# `plan` shows the last two (exit 1 and 0): only `write` refuses to send them.
BAD_FILE_CASES = [
    pytest.param(command, *case, id=f"{command}-{name}")
    for name, case in BAD_FILES.items()
    for command in ("write", "plan")
    if command == "write" or name not in ("always-on-too-big", "empty-story")
]


@pytest.mark.parametrize(("command", "data", "message"), BAD_FILE_CASES)
def test_bad_story_files_are_one_sentence_exit_2_and_untouched(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str, data: bytes, message: str
) -> None:
    path = tmp_path / "a.story.json"
    path.write_bytes(data)
    code, _, err = run(capsys, command, str(path))
    assert code == 2 and message in err, err
    assert err.startswith("stablelm-tui: error: ") and err.count("\n") == 1
    assert path.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.story.json"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["write", "{missing}"], "no such story file"),
        (["plan", "{missing}"], "no such story file"),
        (["write", "{story}", "--max-new-tokens", "2048"], "max_new_tokens must be between 1 and 2047"),
        (["import", "{missing}", "--into", "{story}"], "no such file"),
        (["import", "{story}", "--into", "{other}"], "not a NovelAI lorebook"),
        (["undo", "{story}"], "nothing to undo"),
        (["write", "{story}", "--retry"], "nothing to undo"),
    ],
    ids=[
        "write-missing",
        "plan-missing",
        "reply-too-long",
        "import-missing",
        "import-not-a-lorebook",
        "undo-nothing",
        "retry-nothing",
    ],
)
def test_bad_arguments_leave_the_story_untouched(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], message: str
) -> None:
    story, other = story_file(tmp_path), story_file(tmp_path, name="o.story.json")
    before = story.read_bytes(), other.read_bytes()
    names = {"missing": tmp_path / "none.story.json", "story": story, "other": other}
    code, _, err = run(capsys, *(a.format(**names) for a in argv))
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert (story.read_bytes(), other.read_bytes()) == before


def test_the_story_plan_is_what_write_sends(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = story_file(tmp_path, Story(text=OPENING * 3, memory="M", note="[注]"))
    code, out, _ = run(capsys, "plan", str(path), "--max-new-tokens", "16", "--json")
    plan = json.loads(out)
    code, _, err = run(capsys, "write", str(path), "--max-new-tokens", "16", "--greedy", "--stats")
    assert code == 0
    item = read_story(path).history[-1]
    assert item.prompt_sha256 == prompt_digest(plan["token_ids"])
    assert json.loads(err.strip())["prefill_tokens"] == len(plan["token_ids"])
    tok = load_tokenizer("demo:base")
    check_invariants(NovelPlanner(tok).plan(read_story(path), window=2048, reserve=16), tok.decode)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(("--resume",), "no story to resume yet", id="resume-with-nothing-opened-yet"),
        pytest.param(("{story}", "--resume"), "give a STORY or --resume, not both", id="story-and-resume"),
        pytest.param(("{tmp}/missing/a.story.json",), "no such folder", id="missing-folder"),
        pytest.param(("{tmp}",), "is a directory, not a story file", id="a-directory"),
        pytest.param(("{bad}",), "bad.story.json:1:10: not valid JSON", id="malformed-story"),
    ],
)
def test_novel_open_refuses_bad_input_before_the_screen_opens(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    story = story_file(tmp_path)
    bad = tmp_path / "bad.story.json"
    bad.write_bytes(b'{"text": ')
    values = {"story": str(story), "tmp": str(tmp_path), "bad": str(bad)}
    code, _, err = run(capsys, "open", *(arg.format(**values) for arg in args))
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert bad.read_bytes() == b'{"text": '  # untouched
