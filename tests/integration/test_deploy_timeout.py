"""A deploy that runs past its time limit stops with an error naming where it was.

Real pyinfra against a node whose "sshd" accepts TCP and never answers (as a
hung sshd would): pyinfra waits in its connect phase, and run_deploy's
limit, shorter than pyinfra's own SSH timeouts, stops it there.
"""

import time

import pytest

from kubelab.deploy import DeployTimeout, run_deploy

pytestmark = pytest.mark.integration


def test_a_deploy_over_its_time_limit_names_the_step_and_says_a_rerun_converges(tmp_path, silent_listener):
    spec = tmp_path / "lab.yaml"
    spec.write_text(f"""\
name: timeout-test
nodes:
  - {{name: cp1, address: 127.0.0.1, role: control-plane}}
ssh:
  port: {silent_listener}
  known_hosts: {tmp_path / "known_hosts"}
""")
    (tmp_path / "known_hosts").write_text("")
    started = time.monotonic()
    with pytest.raises(DeployTimeout) as err:
        run_deploy(spec, timeout=6)
    assert time.monotonic() - started < 10
    message = str(err.value)
    assert "did not finish within 6 s" in message and "during Connecting to hosts" in message, err.value.output
    assert "re-run converges" in message
    assert "--> Connecting to hosts" in err.value.output
