"""Sweeps and multi-seed studies: a grid or random search over recipe settings, each setting
with several seeds, run on Ray, stored in the results store, resumable, summarised.

* :mod:`eventbench.sweep.grid` — sweep files and the trials they expand to;
* :mod:`eventbench.sweep.trial` — one trial as a worker runs it;
* :mod:`eventbench.sweep.runner` — the trials on Ray (local or a cluster), skipping done ones;
* :mod:`eventbench.sweep.summary` — mean ± std over seeds per setting, plots.
"""

from eventbench.sweep.grid import SweepSpec, Trial, expand, load_sweep, parse_sweep, trial_id

__all__ = ["SweepSpec", "Trial", "expand", "load_sweep", "parse_sweep", "trial_id"]
