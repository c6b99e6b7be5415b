"""Task recipes: data, default network, loss, training recipe, metrics and baseline per task."""

from eventbench.tasks.base import Availability, TaskData, TaskSpec, UnknownTaskError
from eventbench.tasks.config import ConfigError, Recipe
from eventbench.tasks.registry import TASKS, get_task

__all__ = [
    "TASKS",
    "Availability",
    "ConfigError",
    "Recipe",
    "TaskData",
    "TaskSpec",
    "UnknownTaskError",
    "get_task",
]
