"""The pieces every reliability scenario uses: its settings and results, a tiny model, throw-away
PostgreSQL databases, and prompts, feedback and refiners set up the same way each time.

See `softloop.bench.reliability` for the scenarios themselves.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, Field
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from softloop.agent.graph import LoopConfig
from softloop.agent.graph.prompt_source import PromptRef, PromptSelection
from softloop.agent.refine import EvalSets, RefineConfig, Refiner
from softloop.agent.registry import PromptRegistry
from softloop.agent.store import AttemptRecord, CritiqueRecord, RunRecord, RunStatus, Store, Verdict
from softloop.prompts import Example, FrozenLM, SoftPrompt

ADMIN_URL_ENV = "SOFTLOOP_TEST_PG_URL"
DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
SCENARIOS = ("load", "kills", "refiner-kills", "refiners", "corpus")
TASK, OTHER = "t", "u"
TEMPLATE = "{input}="
# The loop as agents run it: one revision at most, a cheap exact critic (no model call).
LOOP = LoopConfig(max_new_tokens=6, max_rounds=2, revise_samples=0, resolve_samples=1)
# Answers longer than the model may write: both versions score 0, so every candidate passes.
UNREACHABLE = [Example(str(k), "z" * 12) for k in range(4)]
CLIENT_TRIES = 3  # a client resends a request that failed before it was answered


class ReliabilityConfig(BaseModel):
    agents: int = Field(default=8, ge=1)
    runs: int = Field(default=250, ge=1, description="Runs per agent.")
    kill_every_s: float = Field(default=0.5, gt=0, description="Connection kills, `kills`.")
    refiner_kills: int = Field(default=20, ge=1)
    lease_ttl_s: float = Field(default=3.0, gt=0, description="The refiners' lease.")
    refiners: int = Field(default=4, ge=2)
    cycles: int = Field(default=10, ge=1)
    # Bad inputs tried per category (None: all). Each is a process of its own (seconds each).
    corpus_per_category: int | None = Field(default=None, ge=1)
    scenarios: tuple[str, ...] = SCENARIOS
    admin_url: str = Field(default_factory=lambda: os.environ.get(ADMIN_URL_ENV, DEFAULT_ADMIN_URL))
    seed: int = 0

    @classmethod
    def quick(cls, **overrides: Any) -> ReliabilityConfig:
        """Every scenario scaled down to run in a minute or two (CI)."""
        small: dict[str, Any] = dict(
            agents=3, runs=12, kill_every_s=0.1, refiner_kills=3, lease_ttl_s=1.5,
            refiners=3, cycles=2, corpus_per_category=2,
        )  # fmt: skip
        return cls(**{**small, **overrides})


class ScenarioResult(BaseModel):
    """One scenario's figures. `unit` says what expected/stored/duplicated/lost count."""

    name: str
    load: str
    faults: str
    unit: str
    expected: int
    stored: int
    duplicated: int
    lost: int
    ok: bool
    details: dict[str, Any] = Field(default_factory=dict)
    seconds: float = 0.0


# --- the tiny model and the databases ---------------------------------------------------------


def tiny_model(directory: Path, seed: int = 0) -> Path:
    """A random 1-layer Llama and the reference tokenizer, saved as a user's model is."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from softloop.bench.tokenizer import build_tokenizer

    tok = build_tokenizer()
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=256,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id, initializer_range=0.3,
    )  # fmt: skip
    LlamaForCausalLM(config).save_pretrained(directory)
    tok.save_pretrained(directory)
    return directory


class Databases:
    """Throw-away PostgreSQL databases on the admin URL's server, dropped at the end."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        self.created: list[str] = []

    def create(self) -> str:
        name = f"softloop_reliability_{secrets.token_hex(4)}"
        with self.engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        self.created.append(name)
        url = make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)
        store = Store(url, auto_upgrade=False)
        store.upgrade()
        store.close()
        return url

    def terminate(self, url: str) -> int:
        """Kill every connection to the database at `url`; how many there were."""
        with self.engine.connect() as conn:
            killed = conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": make_url(url).database},
            ).all()
        return sum(1 for (done,) in killed if done)

    def close(self) -> None:
        with self.engine.connect() as conn:
            for name in self.created:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.engine.dispose()


# --- pieces every scenario uses --------------------------------------------------------------


def registry_for(store: Store, lm: FrozenLM, home: Path, who: str) -> PromptRegistry:
    """A registry with task prompts only (the agents bring their own critic)."""
    return PromptRegistry(
        store,
        lm,
        home / "prompts",
        critique_name=None,
        revise_name=None,
        local_copy=home / f"active-{who}.json",
    )


def seed_prompts(store: Store, lm: FrozenLM, home: Path, names: tuple[str, ...]) -> None:
    registry = registry_for(store, lm, home, "seed")
    for k, name in enumerate(names):
        prompt = SoftPrompt.from_init(lm, 4, "vocab", name=name, template=TEMPLATE, seed=k)
        registry.register(prompt, status="active")


def add_feedback(store: Store, name: str, n: int, tag: str) -> None:
    """`n` passed runs of task `name`: what a refiner trains on (the critic's passes trusted)."""
    for k in range(n):
        answer = f"{k % 7}{k % 3}"
        store.record_run(
            RunRecord(
                task=name,
                input=f"{tag}{k}",
                final_output=answer,
                status=RunStatus.PASSED,
                prompt_versions={name: 1},
                metadata={"feedback": tag},
                attempts=[
                    AttemptRecord(
                        round=1,
                        output=answer,
                        prompt_name=name,
                        prompt_version=1,
                        critiques=[CritiqueRecord(critic="bench", verdict=Verdict.PASS, score=1.0)],
                    )
                ],
            )
        )


def refine_config(ttl_s: float, min_feedback: int, steps: int) -> RefineConfig:
    return RefineConfig(
        kinds=("task",),
        critic_trust=1.0,
        min_new_feedback=min_feedback,
        steps=steps,
        lr=0.05,
        batch_size=8,
        margin=0.0,
        max_examples=200,
        lease_ttl_s=ttl_s,
        max_new_tokens=4,
    )


def make_refiner(
    store: Store, lm: FrozenLM, home: Path, config: RefineConfig, names: list[str], who: str
) -> Refiner:
    return Refiner(
        store,
        lm,
        registry_for(store, lm, home, who),
        config=config,
        eval_sets=EvalSets(tasks={name: UNREACHABLE for name in names}),
        names=names,
        owner=who,
    )


class Witness:
    """A prompt source that notes which version each loaded prompt file says it is."""

    def __init__(self, inner: PromptRegistry) -> None:
        self.inner = inner
        self.used: dict[str, int] = {}

    def select(self, task: str) -> PromptSelection:
        return self.inner.select(task)

    def load(self, ref: PromptRef) -> SoftPrompt:
        prompt = self.inner.load(ref)
        self.used[ref.name] = prompt.manifest.version
        return prompt


def child_process() -> None:
    """Settings for a scenario's child process: one thread, and quiet logs (each child writes
    what it did to its own log file; under injected faults the library's warnings, a refiner's
    failed round with its traceback, psycopg's notes on killed connections, are expected)."""
    torch.set_num_threads(1)
    for name in ("softloop", "psycopg"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _parity(task: str, input: str, answer: str) -> tuple[bool, str]:
    return len(answer) % 2 == 0, "odd length"


def _one_line(err: BaseException) -> str:
    message = str(err).strip()
    return (message.splitlines()[0] if message else type(err).__name__)[:300]
