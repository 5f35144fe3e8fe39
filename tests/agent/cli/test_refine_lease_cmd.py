"""`softloop refine --lease-ttl` (issue 16, defect 9): the lease's length is the user's to set."""

from __future__ import annotations

from softloop.agent.refine import RefineOutcome
from softloop.agent.store import Store
from tests.agent.cli.driver import TASK, invoke


def test_lease_ttl_reaches_the_refiner(store: Store, registered, model_dir, monkeypatch) -> None:
    seen: list[float] = []

    def refine(self, name: str) -> RefineOutcome:
        seen.append(self.config.lease_ttl_s)
        return RefineOutcome(name=name, action="skipped", reason="test")

    monkeypatch.setattr("softloop.agent.refine.refiner.Refiner.refine", refine)
    args = ["--once", "--names", TASK, "--model", str(model_dir)]
    result = invoke(store, "refine", *args, "--lease-ttl", "90s")
    assert result.exit_code == 0, result.output
    assert seen == [90.0]
    bad = invoke(store, "refine", *args, "--lease-ttl", "soon")
    assert bad.exit_code == 2 and "'--lease-ttl'" in bad.output
