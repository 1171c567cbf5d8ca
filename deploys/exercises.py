"""The series' exercises, applied from this machine with the kubernetes client.

What each exercise starts with (its setup, or for the article its solution)
is applied only when one of those objects is missing, so a second run of the
deploy changes nothing; `kubelab apply` re-applies on demand.
"""

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import python
from rich.console import Console

from kubelab.catalogue import start_files
from kubelab.cluster import DEFAULT_NAMESPACE, load_manifests
from kubelab.exercises import apply_exercises, exercises_for
from kubelab.facts import ObjectField

APPLY_TIMEOUT_SECONDS = 300


@deploy("Exercises")
def exercises():
    spec = host.data.kubelab_spec
    missing = [f"{m.kind} {m.name}" for m in load_manifests(start_files(exercises_for(spec)))
               # kubectl ignores the namespace of a cluster-scoped kind.
               if not host.get_fact(ObjectField, kind=m.kind.lower(), namespace=m.namespace or DEFAULT_NAMESPACE,
                                    object_name=m.name, jsonpath=".metadata.uid")]
    if missing:
        python.call(name=f"apply the exercises' starting objects ({', '.join(missing)} missing)",
                    function=apply_exercises, spec=spec, timeout=APPLY_TIMEOUT_SECONDS,
                    console=Console(stderr=True))
