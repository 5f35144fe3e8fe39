"""The shipped reference model and default prompts load like any Hugging Face model / prompt."""

import json

import pytest
from transformers import AutoModelForCausalLM, AutoTokenizer

from softloop.bench import (
    DEFAULT_PROMPTS,
    TASKS,
    default_prompt_path,
    formats,
    get_task,
    reference_model_path,
)
from softloop.bench.tokenizer import build_tokenizer
from softloop.prompts import FrozenLM, SoftPrompt
from softloop.prompts.errors import SoftloopError


@pytest.fixture(scope="module")
def lm():
    return FrozenLM.from_pretrained(reference_model_path())


def test_model_loads_with_auto_classes_and_has_the_documented_shape():
    path = reference_model_path()
    model = AutoModelForCausalLM.from_pretrained(path)
    tok = AutoTokenizer.from_pretrained(path)
    stats = json.loads((path / "pretrain_stats.json").read_text())["config"]
    c = model.config
    assert c.model_type == "llama" and c.tie_word_embeddings
    assert (c.hidden_size, c.num_hidden_layers, c.num_attention_heads) == (
        stats["hidden"],
        stats["layers"],
        stats["heads"],
    )
    assert c.vocab_size == len(tok) == len(build_tokenizer()) == 4 + 95 + 26 * 26
    assert sum(p.numel() for p in model.parameters()) < 3_000_000
    assert (path / "model.safetensors").stat().st_size <= 10 * 2**20
    assert (path / "MODEL_CARD.md").is_file()


def test_tokenizer_spells_lone_letter_pairs_as_one_token_and_the_rest_by_character():
    tok = AutoTokenizer.from_pretrained(reference_model_path())
    text = formats.judge_text("pth", "a d;ab cd bc", "acd") + formats.check_trace(
        get_task("path").steps("a d;ab cd bc", "acd")
    )
    ids = tok(text).input_ids
    assert tok.convert_ids_to_tokens(ids) == [
        "<bos>", "c", "h", "k", " ", "p", "t", "h", ":", "a", " ", "d", ";", "ab", " ", "cd",
        " ", "bc", "=", "a", "c", "d", "?", "a", "+", " ", "ac", "-", " ", "cd", "+", " ", "d", "+",
    ]  # fmt: skip
    assert tok.decode(ids, skip_special_tokens=True) == text
    # The saved tokenizer is the one the recipe builds.
    assert tok(text).input_ids == build_tokenizer()(text).input_ids
    assert (tok.pad_token_id, tok.bos_token_id, tok.eos_token_id) == (0, 1, 2)
    # The judge's marks are single tokens of their own.
    y, n = tok.convert_tokens_to_ids([formats.PASS_MARK, formats.FAIL_MARK])
    assert y != n and tok.unk_token_id not in (y, n)


@pytest.mark.parametrize("name", TASKS)
def test_model_solves_easy_inputs_with_the_text_instruction(lm, name):
    task = TASKS[name]
    pairs = task.split("test", 20, difficulty=task.easy_difficulty)
    got = lm.generate(
        [formats.solve_text(task.instruction, x) for x, _ in pairs], max_new_tokens=24
    )
    right = sum(task.check(x, a) for (x, _), a in zip(pairs, got, strict=True))
    assert right >= 0.8 * len(pairs), (task.name, right)


@pytest.mark.parametrize("name", DEFAULT_PROMPTS)
def test_default_prompts_load_against_the_reference_model(lm, name):
    p = SoftPrompt.load(default_prompt_path(name), lm=lm)
    assert p.name == name
    assert p.weight.shape == (p.n_tokens, lm.hidden_size)
    kind = {"critique": "critique", "revise": "revise"}.get(name, "task")
    template = {"critique": formats.CRITIQUE_TEMPLATE, "revise": formats.REVISE_TEMPLATE}
    assert p.manifest.kind == kind
    assert p.template == template.get(name, formats.TASK_TEMPLATE)
    assert p.n_tokens <= 20


def test_unknown_default_prompt_is_a_clear_error():
    with pytest.raises(SoftloopError, match="no default prompt called 'nope'"):
        default_prompt_path("nope")
