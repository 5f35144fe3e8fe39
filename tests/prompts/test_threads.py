"""Thread count for tiny models: one, unless the user says otherwise."""

import pytest
import torch

from softloop.prompts.threads import THREADS_ENV, fit_threads
from tests.prompts.models import tiny_model


@pytest.fixture(autouse=True)
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_small_cpu_model_gets_one_thread(monkeypatch) -> None:
    monkeypatch.delenv(THREADS_ENV, raising=False)
    torch.set_num_threads(2)
    assert fit_threads(tiny_model("llama", 50)) == 1


def test_environment_variable_wins(monkeypatch) -> None:
    monkeypatch.setenv(THREADS_ENV, "2")
    assert fit_threads(tiny_model("llama", 50)) == 2
