"""The reference world (task suite, tiny base model recipe, default prompts) and benchmarks."""
