"""Training: a loop for EventBench SNNs (EventProp or surrogate BPTT) and conventional networks."""

from eventbench.train.activity import HiddenActivity, record_activity
from eventbench.train.baselines import BaselineSpec, GRUBaseline, MLPBaseline, build_baseline
from eventbench.train.callbacks import (
    BatchProgress,
    Callback,
    LogCallback,
    RichProgress,
    TrainStart,
)
from eventbench.train.checkpoint import (
    CheckpointError,
    CheckpointMismatchError,
    load_checkpoint,
    save_checkpoint,
)
from eventbench.train.data import BinnedSplit, Split, TensorSplit
from eventbench.train.diagnostics import LayerDiagnostics
from eventbench.train.learners import ANNLearner, Learner, SNNLearner, StepOutput
from eventbench.train.loop import EpochRecord, EvalResult, History, TrainConfig, evaluate, fit
from eventbench.train.schedules import LRSchedule, ScheduleState

__all__ = [
    "ANNLearner",
    "BaselineSpec",
    "BatchProgress",
    "BinnedSplit",
    "Callback",
    "CheckpointError",
    "CheckpointMismatchError",
    "EpochRecord",
    "EvalResult",
    "GRUBaseline",
    "HiddenActivity",
    "History",
    "LRSchedule",
    "LayerDiagnostics",
    "Learner",
    "LogCallback",
    "MLPBaseline",
    "RichProgress",
    "SNNLearner",
    "ScheduleState",
    "Split",
    "StepOutput",
    "TensorSplit",
    "TrainConfig",
    "TrainStart",
    "build_baseline",
    "evaluate",
    "fit",
    "load_checkpoint",
    "record_activity",
    "save_checkpoint",
]
