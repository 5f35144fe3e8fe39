"""Write the example task's data: one-digit additions, `{"input": "7+5", "output": "12"}`.

The 100 pairs of digits, shuffled and split 50 / 30 / 20: `add1-train.jsonl` to train on,
`add1-dev.jsonl` to measure on, and `add1-requests.txt`, inputs in neither, to send through the
loop. Seeded: the same files on every machine.

One-digit sums because SmolLM2-135M-Instruct can do them but does not answer in the form asked
(`The answer is 12.`): a soft prompt can teach it the form. Two-digit sums it gets wrong with
any wording (0 of 60 with the plain instruction, 1 of 20 read leniently), which no prompt fixes.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    pairs = [(a, b) for a in range(10) for b in range(10)]
    random.Random(1).shuffle(pairs)
    rows = [{"input": f"{a}+{b}", "output": str(a + b)} for a, b in pairs]
    for name, part in (("add1-train.jsonl", rows[:50]), ("add1-dev.jsonl", rows[50:80])):
        (HERE / name).write_text("".join(json.dumps(r) + "\n" for r in part))
    (HERE / "add1-requests.txt").write_text("".join(r["input"] + "\n" for r in rows[80:]))


if __name__ == "__main__":
    main()
