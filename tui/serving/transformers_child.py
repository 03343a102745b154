"""The `transformers serve` process of `serve --engine transformers`, with our Alpha class registered.

Usage: python -m tui.serving.transformers_child SERVING_ROOT serve MODEL_DIR_NAME [transformers serve options]

transformers serve builds a model as `getattr(transformers, config.architectures[0])`; our architecture is not a
transformers class, so it is set on the module here, in the only process that loads it. The process works in
SERVING_ROOT so that the model id transformers serve reports and matches requests against is the directory's
bare name (the served name).
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    os.chdir(argv[0])
    import transformers
    from transformers.cli.transformers import main as transformers_main

    import tui.models

    setattr(transformers, tui.models.ARCHITECTURE, tui.models.JapaneseStableLMAlphaForCausalLM)
    sys.argv = ["transformers", *argv[1:]]
    transformers_main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
