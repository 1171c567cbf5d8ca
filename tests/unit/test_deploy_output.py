"""Reading pyinfra's output: where a stopped deploy was, and which operation failed on which host.

The captures in tests/fixtures/pyinfra are real pyinfra 3.10 output (see its README).
"""

from pathlib import Path

import pytest

from kubelab.deploy import DeployFailed, DeployResult, describe_failure, last_step

CAPTURES = Path(__file__).parents[1] / "fixtures" / "pyinfra"


def capture(name: str) -> str:
    return (CAPTURES / name).read_text()


def test_a_stopped_deploy_is_placed_at_the_operation_it_had_started():
    assert last_step(capture("timeout.txt")) == "operation `Control plane reachable | the API server answers /readyz`"


def test_before_any_operation_the_step_is_pyinfra_s_phase():
    assert last_step("--> Loading config...\n--> Loading inventory...\n--> Connecting to hosts...\n") \
        == "Connecting to hosts"
    assert last_step("") is None


def test_a_failed_shell_operation_is_named_with_its_host_and_what_it_printed():
    assert describe_failure(capture("operation-error.txt")) == \
        "on @local, operation `kubeadm init | the API server answers /readyz`: not ready"


def test_a_failed_python_callback_is_named_with_its_exception():
    assert describe_failure(capture("callback-error.txt")) == (
        "on @local, operation `kubeadm join | kubeadm join (token made now, never printed)`: "
        "Unexpected error in Python callback: RuntimeError('kubeadm join failed: exit 1',)")


def test_an_exception_while_loading_names_the_file_and_the_error():
    assert describe_failure(capture("inventory-error.txt")) == (
        "inventories/local.py raised kubelab.errors.SpecError: /root/.local/state/kubelab/labs/local/spec.yaml: "
        "(file): cannot be read: No such file or directory. Fix: check the path; for the local lab run "
        "`kubelab nodes up` first")


def test_only_the_hosts_that_failed_are_named():
    # Two hosts on one operation, as pyinfra prints them when only w1 fails.
    output = ("--> Starting operation: kubeadm join | kubeadm join (token made now, never printed) \n"
              "    [cp1] Success\n    [w1] preflight: port 10250 is in use\n    [w1] Error: executed 0 commands\n\n"
              "--> Starting operation: CNI (kube-router) | apply kube-router \n    [cp1] Success\n")
    assert describe_failure(output) == \
        "on w1, operation `kubeadm join | kubeadm join (token made now, never printed)`: preflight: port 10250 is in use"


def test_a_failed_result_raises_naming_operation_host_and_that_a_rerun_converges():
    output = capture("operation-error.txt")
    with pytest.raises(DeployFailed) as err:
        DeployResult(1, 0.7, 0, 1, 0, output).check()
    message = str(err.value)
    assert "operation `kubeadm init | the API server answers /readyz`" in message and "on @local" in message
    assert "re-run converges" in message and err.value.output == output


def test_a_clean_result_passes_its_check():
    ok = DeployResult(0, 80.0, 3, 0, 71, "    Grand total   8   3   -   71\n")
    assert ok.check() is ok
