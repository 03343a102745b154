"""Novel mode (小説モード): the base model continues a story, with メモリ, 脚注 and a キャラクターブック.

Headless: no Textual, no torch at import. The pieces, from data to generation:
  story.py / schema.py / files.py   the `*.story.json` file: data, strict reading, private atomic writing
  normalize.py / lore.py            folding text and matching lore keys
  chunks.py / storytext.py          the story as cached chunks; scan window, trimming, 脚注 position
  assemble.py / ledger.py           the planner and its ledger (every token accounted for)
  banned.py                         禁止ワード as banned token sequences for the sampler
  history.py                        continue, retry, undo, redo on the story's history
  backend.py                        the base model's backend (tui.engine.factory) and the generation request
  session.py / store.py             NovelSession (what a screen drives) and the per-user story store
  imports.py / report.py            NovelAI and SillyTavern lorebooks; the ledger as a table
See docs/novel.md.
"""
