"""Times as kubelab stores them (UTC, RFC 3339 to the second) and as the API gives them."""

from __future__ import annotations

import time
from datetime import datetime


def utc_iso(epoch: float | None = None) -> str:
    """`epoch` (now when None) as 2026-11-28T09:00:00Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def epoch_of(stamp) -> float:
    """Seconds since the epoch of an RFC 3339 string (fractions allowed) or of a datetime (the typed client's)."""
    return (stamp if hasattr(stamp, "timestamp") else datetime.fromisoformat(stamp.replace("Z", "+00:00"))).timestamp()
