"""Chat templates and templates that place the virtual tokens (`{prompt}`).

The tiny tokenizers know no `<|im_start|>`, so the chat template here is a plain-text one with
the same habits as real ones: role tags, and a default system turn when there is none.
"""

from __future__ import annotations

import pytest
import torch

from softloop.prompts import ConfigError, FrozenLM, SoftPrompt
from softloop.prompts.chat import chat_template, default_template
from softloop.prompts.decode_batch import cut
from softloop.prompts.manifest import check_template, split_template
from softloop.prompts.peft_interop import export_peft
from softloop.prompts.prefix_cache import PrefixCacheConfig
from tests.prompts.models import make_lm

# Like SmolLM2's: a default system turn unless the conversation starts with one.
CHAT = (
    "{% for m in messages %}"
    "{% if loop.first and m['role'] != 'system' %}{{ 'system: be nice.' }}{% endif %}"
    "{{ m['role'] + ': ' + m['content'] + '.' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ 'assistant: ' }}{% endif %}"
)


def chat_lm(arch: str = "llama") -> FrozenLM:
    lm = make_lm(arch)
    lm.tokenizer.chat_template = CHAT
    return lm


def test_the_chat_template_leaves_out_the_default_system_turn_unless_asked() -> None:
    tok = chat_lm().tokenizer
    assert chat_template(tok, content="{prompt} {input}") == "user: {prompt} {input}.assistant: "
    assert (
        chat_template(tok, system="be short", content="{prompt} {input}")
        == "system: be short.user: {prompt} {input}.assistant: "
    )
    # Without {prompt} the virtual tokens open the user turn on a line of their own.
    assert chat_template(tok, content="q {input}") == "user: {prompt}\nq {input}.assistant: "


def test_literal_braces_in_a_chat_template_are_escaped() -> None:
    tok = chat_lm().tokenizer
    tok.chat_template = "{{ '{x}' }}" + CHAT
    template = chat_template(tok, content="{prompt}{input}")
    check_template(template)
    assert template.startswith("{{x}}")


def test_a_tokenizer_without_a_chat_template_is_refused_in_one_line() -> None:
    with pytest.raises(ConfigError, match="no chat template"):
        chat_template(make_lm("llama").tokenizer)


def test_default_template_separates_input_and_answer() -> None:
    tok = make_lm("llama").tokenizer  # knows no line break: `=` instead
    assert default_template(tok) == "{input}="
    assert default_template(chat_lm().tokenizer, chat=True).startswith("user: {prompt}\n")


@pytest.mark.parametrize(
    ("template", "error"),
    [
        ("{input}{prompt}", "after"),
        ("{prompt}{prompt}{input}", "twice"),
        ("{prompt}", "single field"),
        ("{other}{prompt}{input}", "single field"),
    ],
)
def test_bad_prompt_slots_are_refused(template: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        check_template(template)


def test_split_template_unescapes_the_head_only() -> None:
    assert split_template("a{{b}}{prompt}c{{d}}{input}") == ("a{b}", "c{{d}}{input}")
    assert split_template("{input}=") == ("", "{input}=")


def test_from_init_with_chat_records_the_template_and_round_trips(tmp_path) -> None:
    lm = chat_lm()
    p = SoftPrompt.from_init(lm, 4, "text", text="add", chat=True)
    assert p.template == "user: {prompt}\n{input}.assistant: "
    assert p.manifest.extra["chat"] is True
    assert p.split("1+2") == ("user: ", "\n1+2.assistant: ")
    assert p.instructed("1+2", "add") == "user: add\n1+2.assistant: "
    loaded = SoftPrompt.load(p.save(tmp_path / "p"), lm)
    assert loaded.template == p.template
    with pytest.raises(ConfigError, match="chat=True"):
        SoftPrompt.from_init(lm, 4, "vocab", system="x")


@pytest.mark.parametrize("arch", ["gpt2", "llama", "qwen2"])
def test_the_virtual_tokens_sit_where_the_template_places_them(arch: str) -> None:
    lm = chat_lm(arch)
    p = SoftPrompt.from_init(lm, 3, "vocab", template="user: {prompt}{input}=")
    text = "ab"
    ids = lm.tokenizer("user: ", add_special_tokens=False)["input_ids"]
    rest = lm.tokenizer("ab=", add_special_tokens=False)["input_ids"]
    table = lm.embedding.weight
    seq = torch.cat(
        [
            table[torch.tensor(lm.bos_ids + ids, dtype=torch.long)],
            p.weight.detach(),
            table[torch.tensor(rest)],
        ]
    )
    with torch.no_grad():
        want = lm.model(inputs_embeds=seq.unsqueeze(0)).logits[0, -1]
    got = lm.logits([text], p)[0, -1]
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


def test_a_text_initialised_slot_prompt_starts_as_its_instruction() -> None:
    lm = chat_lm()
    instruction = "add"
    p = SoftPrompt.from_init(lm, 3, "text", text=instruction, chat=True)  # 3 chars, 3 tokens
    inputs, targets = ["1+2", "3+4"], ["3", "7"]
    soft = lm.score(inputs, targets, p)
    plain = lm.score([p.instructed(x, instruction) for x in inputs], targets, None)
    torch.testing.assert_close(soft, plain, rtol=1e-4, atol=1e-4)


def test_slot_prompts_decode_the_same_batched_alone_and_on_cached_prefixes() -> None:
    lm = chat_lm()
    p = SoftPrompt.from_init(lm, 3, "vocab", chat=True)
    q = SoftPrompt.from_init(lm, 5, "random", seed=2, template="{input}=")
    inputs, prompts = ["ab", "cde", "f"], [p, q, p]
    alone = [lm.generate(x, pr, max_new_tokens=6)[0] for x, pr in zip(inputs, prompts, strict=True)]
    assert lm.generate(inputs, prompts, max_new_tokens=6) == alone
    lm.prefix_config = PrefixCacheConfig(min_saved_work=0)  # force the cached path
    assert lm.generate(inputs, prompts, max_new_tokens=6) == alone
    assert lm.generate(inputs[:1], p, max_new_tokens=6, prefix=lm.prefix_cache(p)) == alone[:1]


def test_peft_layouts_refuse_prompts_placed_inside_their_template(tmp_path) -> None:
    lm = chat_lm()
    p = SoftPrompt.from_init(lm, 3, "vocab", chat=True)
    with pytest.raises(ConfigError, match="PEFT"):
        export_peft(p, tmp_path / "adapter")
    peft_layout = make_lm("llama", prompt_after_bos=False)
    peft_layout.tokenizer.chat_template = CHAT
    with pytest.raises(ConfigError, match="prompt_after_bos"):
        peft_layout.generate("ab", SoftPrompt.from_init(peft_layout, 3, "vocab", chat=True))
    # Virtual tokens first (an empty head) still export.
    export_peft(SoftPrompt.from_init(lm, 3, "vocab", template="{prompt}{input}"), tmp_path / "ok")


def test_stop_strings_count_only_after_some_non_space_output() -> None:
    assert cut("\n42\nmore", ["\n"]) == "\n42"
    assert cut("\n \n", ["\n"]) is None
    assert cut("42", ["\n"]) is None
    assert cut("a.b", [".", "b"]) == "a"
