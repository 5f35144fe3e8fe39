"""Sample runs for the store and the review page, built without a model."""

from __future__ import annotations


def build_run(
    task: str = "reverse",
    input: str = "abc",
    answers: tuple[str, ...] = ("cbx", "cba"),
    status: str = "passed",
    **fields: object,
) -> object:
    """A `RunRecord` with one attempt per answer; every attempt but the last is critiqued 'fail'."""
    from softloop.agent.store import AttemptRecord, CritiqueRecord, RunRecord

    attempts = []
    for i, answer in enumerate(answers, start=1):
        last = i == len(answers)
        verdict = "pass" if last and status == "passed" else "fail"
        attempts.append(
            AttemptRecord(
                round=i,
                output=answer,
                prompt_name=task if i == 1 else "revise",
                prompt_version=1,
                latency_s=0.01 * i,
                oracle_correct=answer == input[::-1],
                critiques=[
                    CritiqueRecord(
                        critic="soft_prompt",
                        verdict=verdict,
                        score=0.9 if verdict == "pass" else 0.2,
                        feedback="" if verdict == "pass" else f"round {i}: not the reverse",
                    )
                ],
            )
        )
    fields.setdefault("prompt_versions", {task: 1, "critique": 1, "revise": 1})
    return RunRecord(
        task=task,
        input=input,
        final_output=answers[-1] if answers else None,
        status=status,
        attempts=attempts,
        **fields,
    )
