"""Instances running now and billable time this month, read from Cloud Monitoring's timeSeries.list.

gcloud has no command that reads metric data (Google's "Retrieve time-series data" page names the API, client
libraries and Metrics Explorer), so this calls the REST API with the user's own gcloud access token. The endpoint
honours gcloud's own override variable, CLOUDSDK_API_ENDPOINT_OVERRIDES_MONITORING.
"""

from __future__ import annotations

import contextlib
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from runctl.errors import RunError

DEFAULT_ENDPOINT = "https://monitoring.googleapis.com/"
ENDPOINT_ENV = "CLOUDSDK_API_ENDPOINT_OVERRIDES_MONITORING"
INSTANCE_COUNT = "run.googleapis.com/container/instance_count"
BILLABLE_TIME = "run.googleapis.com/container/billable_instance_time"

HttpGet = Callable[[str, str], Any]
"""(url, bearer token) -> the decoded JSON answer."""


def urllib_get(url: str, token: str) -> Any:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")
        with contextlib.suppress(ValueError, KeyError, TypeError):
            detail = json.loads(detail)["error"]["message"]
        raise RunError(f"Cloud Monitoring answered {exc.code}: {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise RunError(f"could not reach Cloud Monitoring: {exc}") from None


def _stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def series_url(project: str, metric: str, service: str, region: str, start: datetime, end: datetime,
               *, period_s: int, aligner: str, group_by: str | None = None) -> str:  # fmt: skip
    params = [
        ("filter", f'metric.type="{metric}" AND resource.type="cloud_run_revision" AND '
                   f'resource.labels.service_name="{service}" AND resource.labels.location="{region}"'),
        ("interval.startTime", _stamp(start)),
        ("interval.endTime", _stamp(end)),
        ("aggregation.alignmentPeriod", f"{max(60, period_s)}s"),
        ("aggregation.perSeriesAligner", aligner),
        ("aggregation.crossSeriesReducer", "REDUCE_SUM"),
    ]  # fmt: skip
    if group_by:
        params.append(("aggregation.groupByFields", group_by))
    base = os.environ.get(ENDPOINT_ENV) or DEFAULT_ENDPOINT
    return f"{base.rstrip('/')}/v3/projects/{project}/timeSeries?{urllib.parse.urlencode(params)}"


def _value(point: dict[str, Any]) -> float:
    value = point.get("value") or {}
    for key in ("int64Value", "doubleValue"):
        if key in value:
            return float(value[key])
    return 0.0


@dataclass(frozen=True)
class Usage:
    instances: dict[str, int]
    """Instances per state ("active", "idle") at the newest point of the last minutes."""
    billable_s: float
    """Billable instance seconds since the first of this month (UTC)."""


def instances_url(project: str, service: str, region: str, now: datetime) -> str:
    return series_url(project, INSTANCE_COUNT, service, region, now - timedelta(minutes=5), now,
                      period_s=60, aligner="ALIGN_MAX", group_by="metric.labels.state")  # fmt: skip


def billable_url(project: str, service: str, region: str, now: datetime) -> str:
    start = now.astimezone(timezone.utc).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    period = max(60, int((now - start).total_seconds()))
    return series_url(
        project, BILLABLE_TIME, service, region, start, now, period_s=period, aligner="ALIGN_SUM"
    )


def read_usage(get: HttpGet, token: str, project: str, service: str, region: str, now: datetime) -> Usage:
    instances: dict[str, int] = {}
    for series in get(instances_url(project, service, region, now), token).get("timeSeries") or []:
        state = str(((series.get("metric") or {}).get("labels") or {}).get("state", "total"))
        points = series.get("points") or []
        if points:  # the API returns the newest point first
            instances[state] = instances.get(state, 0) + int(_value(points[0]))
    billable = 0.0
    for series in get(billable_url(project, service, region, now), token).get("timeSeries") or []:
        billable += sum(_value(p) for p in series.get("points") or [])
    return Usage(instances, billable)
