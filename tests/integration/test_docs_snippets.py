"""The README's and docs/design.md's Python examples run as written (extracted from the files,
so a change of the API or of the docs that breaks them fails here)."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest
import torch

from eventbench.core import SNN, LayerSpec, NetworkSpec, SilentLayerWarning
from eventbench.eventprop import EventProp
from eventbench.readout import ExpWeightedVoltage

ROOT = Path(__file__).resolve().parents[2]


def python_blocks(path: Path) -> list[str]:
    """The ```python blocks of a Markdown file, in order."""
    return re.findall(r"^```python\n(.*?)^```", path.read_text(encoding="utf-8"), re.S | re.M)


@pytest.mark.parametrize("doc", ["README.md", "docs/design.md"])
def test_python_examples_run_and_their_hidden_layers_fire(
    doc: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocks = python_blocks(ROOT / doc)
    assert blocks, f"no python example in {doc}"
    monkeypatch.chdir(tmp_path)
    torch.set_num_threads(1)
    namespace: dict[str, object] = {"__name__": "__doc_example__"}
    with warnings.catch_warnings():
        warnings.simplefilter("error", SilentLayerWarning)  # a silent example is a broken one
        for i, code in enumerate(blocks):
            exec(compile(code, f"{doc} python block {i + 1}", "exec"), namespace)
    out = namespace.get("out")
    assert out is not None, f"{doc}: the example computes no network output"
    counts = out.spikes[0].counts()  # type: ignore[attr-defined]
    assert int(counts.sum()) > 0


def test_a_silent_hidden_layer_warns_with_its_count() -> None:
    spec = NetworkSpec(n_inputs=3, hidden=(LayerSpec(5),), n_outputs=2, dt_s=1e-3, n_steps=20)
    net = SNN(spec, ExpWeightedVoltage(), EventProp(), seed=0)
    with pytest.warns(SilentLayerWarning, match=r"hidden layer 0: none of its 5 neurons fired in "
                      r"this batch of 4 sample\(s\) \(20 steps\)"):
        out = net(torch.zeros(20, 4, 3))
    assert out.spikes[0].n_spikes == 0
    net.eval()  # evaluation and no-grad passes are not training: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", SilentLayerWarning)
        net(torch.zeros(20, 4, 3))
