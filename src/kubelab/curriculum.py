"""The CKAD v1.35 curriculum: its five domains in the CNCF's order, their weights and competencies.

Source: cncf/curriculum, CKAD_Curriculum_v1.35.pdf (2026-02-25). The exam
is 15-20 performance tasks in 2 hours and passes at 66%. The catalogue
checks every exercise's domain against these names; an exam plans its
tasks by these weights.
"""

from __future__ import annotations

from dataclasses import dataclass

PASS_MARK = 66  # percent
EXAM_MINUTES = 120
EXAM_TASKS = 16  # the handbook's 15-20


@dataclass(frozen=True)
class Domain:
    name: str
    weight: int  # percent of the exam
    competencies: tuple[str, ...]


CURRICULUM = (
    Domain("Application Design and Build", 20, (
        "define, build and modify container images",
        "choose and use the right workload resource (Deployment, DaemonSet, CronJob, ...)",
        "understand multi-container Pod design patterns (sidecar, init and others)",
        "utilize persistent and ephemeral volumes")),
    Domain("Application Deployment", 20, (
        "use Kubernetes primitives to implement common deployment strategies (blue/green, canary)",
        "understand Deployments and how to perform rolling updates",
        "use the Helm package manager to deploy existing packages",
        "Kustomize")),
    Domain("Application Observability and Maintenance", 15, (
        "understand API deprecations",
        "implement probes and health checks",
        "use built-in CLI tools to monitor Kubernetes applications",
        "utilize container logs",
        "debugging in Kubernetes")),
    Domain("Application Environment, Configuration and Security", 25, (
        "discover and use resources that extend Kubernetes (CRD, Operators)",
        "understand authentication, authorization and admission control",
        "understand requests, limits, quotas",
        "define resource requirements",
        "understand ConfigMaps",
        "create and consume Secrets",
        "understand ServiceAccounts",
        "understand application security (SecurityContexts, capabilities, etc.)")),
    Domain("Services and Networking", 20, (
        "demonstrate basic understanding of NetworkPolicies",
        "provide and troubleshoot access to applications via services",
        "use Ingress rules to expose applications")),
)

DOMAINS = tuple(d.name for d in CURRICULUM)
WEIGHTS = {d.name: d.weight for d in CURRICULUM}
