"""Checks on who a container talks to the API as: the ServiceAccount token its process finds mounted.

The pod spec's serviceAccountName says what was asked for; the token file
at the well-known path inside the container says what the kubelet
projected. It is read on the node through /proc/<pid>/root (the
container's mounts apply), and only its payload, the middle part of the
JWT, leaves the node, decoded there: the claims name the account, its
namespace and the pod the token is bound to, and without the signature the
payload is no credential. The token itself is never printed.
"""

from __future__ import annotations

import json
import shlex

from kubelab.checks.lab import Lab
from kubelab.checks.process import Process, prove
from kubelab.checks.registry import check
from kubelab.checks.verdict import FAIL, PASS, Verdict, verdict
from kubelab.runtime import NodeRuntime
from kubelab.ssh import CommandResult

TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount/token"
CLAIMS = "kubernetes.io"  # the private claim that names the namespace, account and pod


def token_claims(runtime: NodeRuntime, pid: int) -> CommandResult:
    """The decoded payload of the token the process sees at TOKEN_PATH (base64url, padding restored)."""
    path = shlex.quote(f"/proc/{int(pid)}/root{TOKEN_PATH}")
    # `cut` alone in its substitution: a missing file then fails the command (a pipeline would not).
    return runtime.session.run(
        f"p=$(cut -d. -f2 < {path}) && p=$(printf '%s' \"$p\" | tr -- '-_' '+/') && "
        f"case $((${{#p}} % 4)) in 2) p=\"$p==\";; 3) p=\"$p=\";; esac && printf '%s' \"$p\" | base64 -d")


@check
def process_has_service_account_token(lab: Lab, *, namespace: str, name: str, container: str,
                                      service_account: str) -> Verdict:
    return prove(lab, namespace, name, container, token_claims, judge_service_account_token, service_account)


def judge_service_account_token(process: Process, read: CommandResult | None, service_account: str) -> Verdict:
    """The token mounted for the process is `service_account`'s, of the pod's namespace, bound to this pod."""
    namespace = process.pod.namespace
    subject = f"system:serviceaccount:{namespace}:{service_account}"
    expected = (f"{process.what} finds at {TOKEN_PATH} a token for {subject}, bound to pod uid {process.pod.uid}")
    if read is None:
        return verdict(FAIL, process.node, expected, "no token was read", **process.evidence())
    if not read.ok:
        return verdict(FAIL, process.node, expected, f"no token readable at {TOKEN_PATH} "
                                                     f"({read.stderr.strip() or f'exit {read.exit_code}'}): is the "
                                                     f"token mounted (automountServiceAccountToken)?",
                       **process.evidence())
    try:
        claims = json.loads(read.stdout)
    except ValueError:
        claims = None
    if not isinstance(claims, dict):
        return verdict(FAIL, process.node, expected, f"the file at {TOKEN_PATH} is no JWT: its payload is not a "
                                                     f"JSON object", **process.evidence())
    own = claims.get(CLAIMS) if isinstance(claims.get(CLAIMS), dict) else {}
    account = (own.get("serviceaccount") or {}).get("name", "")
    bound = own.get("pod") or {}
    evidence = process.evidence(sub=claims.get("sub", ""), token_namespace=own.get("namespace", ""),
                                service_account=account, bound_pod=bound.get("name", ""))
    problems = []
    if claims.get("sub") != subject or account != service_account or own.get("namespace") != namespace:
        problems.append(f"the token is for {claims.get('sub') or '(no subject)'}")
    if bound.get("uid") != process.pod.uid:
        problems.append(f"it is bound to pod {bound.get('name') or '(none)'} uid {bound.get('uid') or '(none)'}, "
                        f"not this pod")
    if problems:
        return verdict(FAIL, process.node, expected, "; ".join(problems), **evidence)
    return verdict(PASS, process.node, expected, f"pid {process.pid}: token for {subject}, bound to "
                                                 f"{bound.get('name')}", **evidence)
