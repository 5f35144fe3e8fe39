"""Input templates from a model's own chat template, and a default that separates the answer.

An instruct model answers well only inside the conversation format it was tuned on. So a
prompt for one can take its template from the tokenizer's chat template: one user turn holding
the virtual tokens (`{prompt}`) and the input, then the assistant's turn, where the answer is
written. The template is rendered once into an ordinary softloop template string and stored
in the prompt's manifest, so training, evaluation and generation all read the same layout.

Many chat templates add a default system turn when a conversation has none (SmolLM2 introduces
itself, Qwen2.5 says it was made by Alibaba). A soft prompt is the instruction here, and the
default turn is tokens on every row that a small model must read past, so it is left out
unless a system text is asked for. It is found by rendering a conversation with a marked
system turn and cutting that turn out; a template whose turns cannot be told apart that way
keeps whatever it adds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from softloop.prompts.errors import ConfigError
from softloop.prompts.manifest import check_template

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

# What the user turn holds by default: the virtual tokens, a line break, the input.
CHAT_CONTENT = "{prompt}\n{input}"
_USER = "SOFTLOOPUSERTURN"  # stand-ins rendered through the chat template, then replaced
_SYSTEM = "SOFTLOOPSYSTEMTURN"


def has_chat_template(tokenizer: PreTrainedTokenizerBase) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def chat_template(
    tokenizer: PreTrainedTokenizerBase, system: str | None = None, content: str | None = None
) -> str:
    """A softloop template: the tokenizer's chat template around one user turn.

    content: the user turn, a template with `{input}` (default `{prompt}\\n{input}`); without
    `{prompt}` the virtual tokens go first in the turn, on a line of their own.
    system: a system turn's text; None leaves out any default system turn the template adds.
    """
    if not has_chat_template(tokenizer):
        raise ConfigError(
            "this model's tokenizer has no chat template; train without --chat (chat=False) "
            "or give a --template"
        )
    content = content or CHAT_CONTENT
    if "{prompt}" not in content:
        content = "{prompt}\n" + content
    try:
        check_template(content)
    except ValueError as err:
        raise ConfigError(str(err)) from err

    def render(messages: list[dict[str, str]]) -> str:
        return str(
            tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        )

    try:
        if system is not None:
            text = render([{"role": "system", "content": system}, _user(_USER)])
        else:
            text = _without_default_system(render)
    except Exception as err:  # a template's own jinja error, e.g. a role it does not know
        raise ConfigError(f"the model's chat template cannot render one user turn ({err})") from err
    if text.count(_USER) != 1:
        raise ConfigError("the model's chat template does not show the user's text exactly once")
    before, after = text.split(_USER)
    template = _literal(before) + content + _literal(after)
    check_template(template)
    return template


def _user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def _without_default_system(render: Callable[[list[dict[str, str]]], str]) -> str:
    """One user turn with no system turn, even where the template adds a default one.

    The conversation is rendered with a marked system turn: the text before the mark ends in
    that turn's opening (`<|im_start|>system\\n`); the same opening with `user` for `system`
    ends the text between the two turns. Everything from the system turn's opening to the
    user turn's is cut out.
    """
    plain = render([_user(_USER)])
    try:
        marked = render([{"role": "system", "content": _SYSTEM}, _user(_USER)])
    except Exception:  # a template without a system role adds none
        return plain
    if marked.count(_SYSTEM) != 1 or marked.count(_USER) != 1:
        return plain
    opening, rest = marked.split(_SYSTEM)
    between, after = rest.split(_USER)
    role = opening.rfind("system")
    if role < 0:
        return plain
    tail = opening[role + len("system") :]
    for cut in range(role + 1):  # the longest tag in front of the role word that matches
        user_opening = opening[cut:role] + "user" + tail
        if between.endswith(user_opening):
            return opening[:cut] + user_opening + _USER + after
    return plain


def _literal(text: str) -> str:
    """Text as it stands inside a format string."""
    return text.replace("{", "{{").replace("}", "}}")


def default_template(tokenizer: PreTrainedTokenizerBase, chat: bool = False, **kwargs: Any) -> str:
    """The template a new prompt gets when none is given.

    With `chat`, the model's chat template. Otherwise the virtual tokens, a line break, the
    input and a line break before the answer, so that a prompt initialised from an instruction
    starts as that instruction on its own line; a tokenizer that cannot write a line break
    (an unknown token) gets `=` between input and answer instead.
    """
    if chat:
        return chat_template(tokenizer, **kwargs)
    ids = tokenizer("\n", add_special_tokens=False)["input_ids"]
    unk = getattr(tokenizer, "unk_token_id", None)
    if ids and unk not in ids and tokenizer.decode(ids) == "\n":
        return "{prompt}\n{input}\n"
    return "{input}="
