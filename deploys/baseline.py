"""The fresh lab's baseline, recorded once the cluster is complete (end of the network stage).

Recorded before the exercises stage, so the exercise pod is the student's
starting work, not part of the lab; `kubelab reset` deletes what the baseline
lacks and applies the exercises again. Recorded only when the lab has none,
so a second run of the deploy changes nothing.
"""

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import python

from kubelab.baseline import baseline_path, record_baseline


@deploy("Baseline")
def baseline():
    spec = host.data.kubelab_spec
    path = baseline_path(spec)
    if not path.exists():
        python.call(name=f"record the fresh lab's API objects -> {path}", function=record_baseline, spec=spec)
