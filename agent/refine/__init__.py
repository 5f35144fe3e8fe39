"""Retraining prompts from stored feedback, gated on a measured gain, safe under concurrency."""

from softloop.agent.refine.config import RefineConfig
from softloop.agent.refine.data import critique_dataset, task_dataset
from softloop.agent.refine.evaluate import CriticScores, critic_scores, task_accuracy
from softloop.agent.refine.refiner import EvalSets, RefineOutcome, Refiner

__all__ = [
    "CriticScores",
    "EvalSets",
    "RefineConfig",
    "RefineOutcome",
    "Refiner",
    "critic_scores",
    "critique_dataset",
    "task_accuracy",
    "task_dataset",
]
