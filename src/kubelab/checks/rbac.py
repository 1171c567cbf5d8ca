"""Checks on what a pod's ServiceAccount may do: real API requests made with the token the pod holds.

RBAC objects that read right (`kubectl describe role`) can still bind the
wrong subject, name the wrong verbs or grant far more through a ClusterRole.
`kubectl auth can-i --as` asks the authorizer about a name the caller types;
here the question is asked the way the workload asks it: on the pod's node,
the token the kubelet mounted for the container is read through
/proc/<pid>/root (the container's mounts apply), and curl sends each request
from the pod's own network namespace to the `kubernetes` Service, with the
pod's CA file. The token goes to curl through its config on stdin, never on
a command line, and no response body is kept: only the HTTP status, since a
list the token should not see (Secrets) must not end up in the evidence.

Writes are sent as dry runs (`?dryRun=All`): authorization happens before
admission, so a dry run is refused exactly when the real request would be,
and an allowed one changes nothing. A request is allowed when the answer is
neither 401 nor 403 (a 404 or 422 came after authorization), denied when it
is 403. Denials only count beside an allowed request of the same token: a
token that can do nothing denies everything.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass

from kubelab.checks.identity import TOKEN_PATH
from kubelab.checks.lab import Lab
from kubelab.checks.objects import get
from kubelab.checks.process import CheckArgumentError, Process, find_process
from kubelab.checks.registry import check
from kubelab.checks.verdict import FAIL, PASS, Verdict, verdict
from kubelab.cluster import DEFAULT_NAMESPACE
from kubelab.runtime import NodeRuntime
from kubelab.ssh import CommandResult

CA_PATH = TOKEN_PATH.rsplit("/", 1)[0] + "/ca.crt"
UNAUTHORIZED, FORBIDDEN = 401, 403
API_SERVICE = "kubernetes"  # the Service in `default` that fronts the API server, as pods reach it
METHODS = {"get": "GET", "list": "GET", "create": "POST", "delete": "DELETE"}
_REQUEST = re.compile(r"(?P<verb>[a-z]+) (?P<resource>[a-z]+)(/(?P<name>[a-z0-9][-a-z0-9.]*))?"
                      r"( in (?P<namespace>[a-z0-9][-a-z0-9]*))?")
PROBE_NAME = "kubelab-rbac-probe"


@dataclass(frozen=True)
class ApiRequest:
    """`VERB RESOURCE[/NAME] [in NAMESPACE]` of the core API group, as a task phrases it."""

    text: str
    verb: str
    resource: str
    name: str
    namespace: str

    @property
    def method(self) -> str:
        return METHODS[self.verb]

    def path(self) -> str:
        base = f"/api/v1/namespaces/{self.namespace}/{self.resource}"
        path = f"{base}/{self.name}" if self.name else base
        return path + ("?dryRun=All" if self.verb in ("create", "delete") else "")

    def body(self) -> str | None:
        if self.verb != "create":
            return None
        kind = {"pods": "Pod", "configmaps": "ConfigMap", "secrets": "Secret"}.get(self.resource, "")
        spec = {"spec": {"containers": [{"name": "probe", "image": "busybox:1.37"}]}} if kind == "Pod" else {}
        return json.dumps({"apiVersion": "v1", "kind": kind, "metadata": {"name": PROBE_NAME}, **spec})


def parse_request(text: str, namespace: str, argument: str) -> ApiRequest:
    match = _REQUEST.fullmatch(str(text).strip())
    if not match or match["verb"] not in METHODS or (match["verb"] in ("get", "delete")) != bool(match["name"]):
        raise CheckArgumentError("service_account_access", argument, f"{text!r} is not a request this check makes",
                                 "write `get|delete RESOURCE/NAME` or `list|create RESOURCE`, optionally followed "
                                 "by `in NAMESPACE`, e.g. `list pods` or `delete pods/client in default`")
    return ApiRequest(text, match["verb"], match["resource"], match["name"] or "", match["namespace"] or namespace)


@dataclass(frozen=True)
class Answer:
    """The API server's HTTP status for one request (None: curl got no HTTP answer, `error` says why)."""

    request: ApiRequest
    expect: str  # "allowed" or "denied"
    status: int | None
    error: str = ""

    @property
    def allowed(self) -> bool:
        return self.status is not None and self.status not in (UNAUTHORIZED, FORBIDDEN) and self.status < 500

    @property
    def as_expected(self) -> bool:
        return self.allowed if self.expect == "allowed" else self.status == FORBIDDEN

    def describe(self) -> str:
        seen = f"HTTP {self.status}" if self.status is not None else (self.error or "no answer")
        return f"{self.request.text}: {seen}"


def ask(process: Process, runtime: NodeRuntime, address: str, request: ApiRequest, expect: str) -> Answer:
    """One request to the API server at `address` (host:port), with the container's token, from its network
    namespace."""
    root = f"/proc/{process.pid}/root"
    url = f"https://{address}{request.path()}"
    curl = ["nsenter", "-t", str(process.pid), "-n", "--", "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
            "--connect-timeout", "3", "--max-time", "10", "--noproxy", "*", "--cacert", root + CA_PATH, "-K", "-",
            "-X", request.method]
    body = request.body()
    if body is not None:
        curl += ["-H", "Content-Type: application/json", "--data-raw", body]
    token = shlex.quote(root + TOKEN_PATH)
    header = "header = \"Authorization: Bearer %s\"\\n"
    result = runtime.session.run(f"t=$(cat {token}) && printf '{header}' \"$t\" | {shlex.join(curl + [url])}",
                                 timeout=30)
    return read_answer(request, expect, result)


def read_answer(request: ApiRequest, expect: str, result: CommandResult) -> Answer:
    """curl's `%{http_code}` (000: no HTTP answer) and its stderr -> the answer."""
    code = result.stdout.strip()
    status = int(code) if code.isdigit() and code != "000" else None
    return Answer(request, expect, status, "" if status else (result.stderr.strip()[-300:] or
                                                             f"exit {result.exit_code}"))


@check
def service_account_access(lab: Lab, *, namespace: str, name: str, container: str, allowed: list[str],
                           denied: list[str] = ()) -> Verdict:
    """Requests made with container `container`'s token from pod `name`: each of `allowed` is authorized,
    each of `denied` is refused with 403 (both lists of `VERB RESOURCE[/NAME] [in NAMESPACE]`)."""
    wanted = [(parse_request(t, namespace, "allowed"), "allowed") for t in allowed]
    wanted += [(parse_request(t, namespace, "denied"), "denied") for t in denied]
    if not any(expect == "allowed" for _, expect in wanted):
        raise CheckArgumentError("service_account_access", "allowed", "the list is empty",
                                 "name at least one request the account may make: a denial alone proves nothing")
    found = find_process(lab, namespace, name, container)
    if isinstance(found, Verdict):
        return found
    process, runtime = found
    service = get(lab, "v1", "Service", DEFAULT_NAMESPACE, API_SERVICE)
    spec = (service or {}).get("spec") or {}
    port = next((p.get("port") for p in spec.get("ports") or () if p.get("name") == "https"), None)
    ip = spec.get("clusterIP") or ""
    address = (f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}") if ip and port else ""
    answers = [ask(process, runtime, address, r, expect) for r, expect in wanted] if address else []
    return judge_access(process, address, answers)


def judge_access(process: Process, address: str, answers: list[Answer]) -> Verdict:
    allowed = [a.request.text for a in answers if a.expect == "allowed"]
    denied = [a.request.text for a in answers if a.expect == "denied"]
    expected = (f"with the token mounted in {process.container} of {process.pod.namespace}/{process.pod.name}, from "
                f"its network namespace: {', '.join(allowed) or 'nothing'} authorized"
                + (f"; {', '.join(denied)} refused (403)" if denied else ""))
    if not address or not answers:
        return verdict(FAIL, process.node, expected, f"no request was sent: no ClusterIP and https port for Service "
                                                     f"{DEFAULT_NAMESPACE}/{API_SERVICE}", **process.evidence())
    evidence = process.evidence(api=address, answers="; ".join(a.describe() for a in answers))
    unauthenticated = [a.describe() for a in answers if a.status == UNAUTHORIZED]
    if unauthenticated:
        return verdict(FAIL, process.node, expected, f"the token is not accepted ({unauthenticated[0]}): is one "
                                                     f"mounted at {TOKEN_PATH}?", **evidence)
    wrong = [a for a in answers if not a.as_expected]
    if wrong:
        said = [f"{a.describe()} ({'refused' if a.expect == 'allowed' else 'let through'})" for a in wrong]
        return verdict(FAIL, process.node, expected, "; ".join(said), **evidence)
    return verdict(PASS, process.node, expected, evidence["answers"], **evidence)
