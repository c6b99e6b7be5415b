"""The task registry: one explicit dictionary, name -> :class:`~eventbench.tasks.base.TaskSpec`."""

from __future__ import annotations

import difflib

from eventbench.tasks import (
    digits,
    dvs_gesture,
    mackey_glass,
    mnist,
    nhp_reaching,
    shd,
    speech_commands,
    spoken_digits,
    ssc,
    yinyang,
)
from eventbench.tasks.base import TaskSpec, UnknownTaskError
from eventbench.tasks.delays import delay_tasks

__all__ = ["TASKS", "get_task"]

TASKS: dict[str, TaskSpec] = {
    t.name: t
    for t in (
        yinyang.TASK,
        digits.TASK,
        mnist.TASK,
        shd.TASK,
        ssc.TASK,
        spoken_digits.TASK,
        mackey_glass.TASK,
        nhp_reaching.TASK,
        dvs_gesture.TASK,
        speech_commands.TASK,
        *delay_tasks(),
    )
}


def get_task(name: str) -> TaskSpec:
    """The task called ``name``; an unknown name raises :class:`UnknownTaskError` suggesting
    the closest one."""
    if name in TASKS:
        return TASKS[name]
    close = difflib.get_close_matches(name, list(TASKS), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise UnknownTaskError(
        f"unknown task {name!r}{hint} (tasks: {', '.join(TASKS)})"
    )
