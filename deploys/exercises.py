"""The series' exercises, applied from this machine with the kubernetes client.

Applied only when an exercise pod is missing, so a second run of the deploy
changes nothing; `kubelab apply` re-applies on demand.
"""

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import python
from rich.console import Console

from kubelab.exercises import apply_exercises, exercises_for
from kubelab.facts import ObjectField

APPLY_TIMEOUT_SECONDS = 300


@deploy("Exercises")
def exercises():
    spec = host.data.kubelab_spec
    missing = [f"{ns}/{name}" for e in exercises_for(spec) for ns, name in e.pods
               if not host.get_fact(ObjectField, kind="pod", namespace=ns, object_name=name, jsonpath=".metadata.uid")]
    if missing:
        python.call(name=f"apply the exercise manifests ({', '.join(missing)} missing)",
                    function=apply_exercises, spec=spec, timeout=APPLY_TIMEOUT_SECONDS,
                    console=Console(stderr=True))
