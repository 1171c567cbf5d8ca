"""Checks that a container's requests and limits are what the kernel enforces, in the cgroup of its process.

The limit that matters is the one on the process's own cgroup: a memory
limit put on the sidecar reads right in the pod spec and leaves the app
unlimited. The cgroup comes from /proc/<pid>/cgroup; on cgroup v1 the files
are memory.limit_in_bytes, cpu.cfs_quota_us / cpu.cfs_period_us and
cpu.shares, on v2 memory.max, cpu.max and cpu.weight. The expected values
follow the kubelet's and runc's conversions (pkg/kubelet/cm
MilliCPUToQuota and MilliCPUToShares; opencontainers/cgroups
ConvertCPUSharesToCgroupV2Value, the log-quadratic one of runc >= 1.3.2).
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation

from kubernetes.utils import parse_quantity

from kubelab.checks.lab import Lab
from kubelab.checks.process import CheckArgumentError, Process, conclude, nothing_read, prove
from kubelab.checks.registry import check
from kubelab.checks.verdict import Verdict
from kubelab.runtime import CgroupLimits, NodeRuntime

PAGE_SIZE = 4096  # x86-64, and arm64 with 4 KiB pages
MIN_QUOTA_US, MIN_SHARES, MAX_SHARES = 1000, 2, 262144
MAX_WEIGHT = 10000


def quantity(check_name: str, argument: str, text: str) -> Decimal:
    try:
        value = parse_quantity(text)
    except (ValueError, TypeError, InvalidOperation):
        value = None
    if value is None or value <= 0:
        raise CheckArgumentError(check_name, argument, f"{text!r} is not a positive Kubernetes quantity",
                                 "write it as in the pod spec, e.g. 128Mi or 500m")
    return value


def millicores(value: Decimal) -> int:
    return math.ceil(value * 1000)  # resource.Quantity.MilliValue rounds up


def cpu_shares(milli: int) -> int:
    return min(max(milli * 1024 // 1000, MIN_SHARES), MAX_SHARES)


def cpu_weight(shares: int) -> int:
    if shares <= MIN_SHARES:
        return 1
    if shares >= MAX_SHARES:
        return MAX_WEIGHT
    exponent = (math.log2(shares) ** 2 + 125 * math.log2(shares)) / 612 - 7 / 34
    return math.ceil(10 ** exponent)


# What each setting reads: (file, CgroupLimits field) on cgroup v1, then on v2.
MEMORY_LIMIT = (("memory.limit_in_bytes", "memory_bytes"), ("memory.max", "memory_bytes"))
CPU_LIMIT = (("cpu.cfs_quota_us", "cpu_quota_us"), ("cpu.max", "cpu_quota_us"))
CPU_REQUEST = (("cpu.shares", "cpu_shares"), ("cpu.weight", "cpu_weight"))


def _judge_value(process: Process, setting: str, limits: CgroupLimits | None,
                 reads: tuple[tuple[str, str], tuple[str, str]], allowed: dict[int, tuple[int, ...]]) -> Verdict:
    """One value of the process's cgroup against the values `allowed` on each cgroup version (None: no limit)."""
    expected = f"the cgroup of {process.what} enforces {setting}"
    if limits is None:
        return nothing_read(process, expected, "the process's cgroup")
    file, field = reads[limits.version - 1]
    seen, wanted = getattr(limits, field), allowed[limits.version]
    shown = "no limit" if seen is None else str(seen)
    return conclude(process, expected, f"cgroup v{limits.version} {file}",
                    [] if seen in wanted else [f"{shown}, not {wanted[0]}"], f"cgroup v{limits.version} {file} {shown}",
                    **{k: "" if v is None else v for k, v in vars(limits).items()})


# -- memory limit -------------------------------------------------------------

@check
def memory_limit_is_enforced(lab: Lab, *, namespace: str, name: str, container: str, limit: str) -> Verdict:
    wanted = quantity("memory_limit_is_enforced", "limit", limit)
    return prove(lab, namespace, name, container, NodeRuntime.cgroup_limits,
                 judge_memory_limit, limit, int(wanted))


def judge_memory_limit(process: Process, limits: CgroupLimits | None, limit: str, limit_bytes: int) -> Verdict:
    # The kernel keeps the limit in whole pages, rounded down.
    allowed = (limit_bytes, limit_bytes - limit_bytes % PAGE_SIZE)
    return _judge_value(process, f"a memory limit of {limit} ({limit_bytes} bytes)", limits, MEMORY_LIMIT,
                        {1: allowed, 2: allowed})


# -- CPU limit ----------------------------------------------------------------

@check
def cpu_limit_is_enforced(lab: Lab, *, namespace: str, name: str, container: str, limit: str) -> Verdict:
    wanted = quantity("cpu_limit_is_enforced", "limit", limit)
    return prove(lab, namespace, name, container, NodeRuntime.cgroup_limits,
                 judge_cpu_limit, limit, millicores(wanted))


def judge_cpu_limit(process: Process, limits: CgroupLimits | None, limit: str, milli: int) -> Verdict:
    period = limits.cpu_period_us if limits else 0
    quota = (max(milli * period // 1000, MIN_QUOTA_US),)
    return _judge_value(process, f"a CPU limit of {limit} ({milli}m: {milli / 1000:g} of each CFS period)",
                        limits, CPU_LIMIT, {1: quota, 2: quota})


# -- CPU request --------------------------------------------------------------

@check
def cpu_request_is_enforced(lab: Lab, *, namespace: str, name: str, container: str, request: str) -> Verdict:
    wanted = quantity("cpu_request_is_enforced", "request", request)
    return prove(lab, namespace, name, container, NodeRuntime.cgroup_limits,
                 judge_cpu_request, request, millicores(wanted))


def judge_cpu_request(process: Process, limits: CgroupLimits | None, request: str, milli: int) -> Verdict:
    shares = cpu_shares(milli)
    return _judge_value(process, f"a CPU request of {request} ({milli}m: cpu.shares {shares} on cgroup v1, cpu.weight "
                                 f"{cpu_weight(shares)} on v2)", limits, CPU_REQUEST,
                        {1: (shares,), 2: (cpu_weight(shares),)})
