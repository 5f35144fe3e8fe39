"""The self-correction graph, the SQL store, the refiner and the CLI."""

__all__: list[str] = []
