"""`provisioning/cloudrun` against the fake gcloud, plus a fake Cloud Monitoring API on localhost.

The monitoring fake answers timeSeries.list as the v3 REST API does (int64 values as strings, newest point first,
one series per group-by state) from the fake gcloud's state: state["monitoring"][SERVICE] =
{"active": N, "idle": M, "billable_s": S}. It refuses requests without the fake gcloud's access token.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.unit.provisioning_fakes import PROVISIONING, FakeCloud

TOKEN = "ya29.fake-token"


class CloudRunFake(FakeCloud):
    def __init__(self, tmp: Path) -> None:
        super().__init__(tmp)
        state = self.state()
        state.update(project="my-project", access_token=TOKEN)
        self.state_file.write_text(json.dumps(state))

    def cloudrun(self, *args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(PROVISIONING / "cloudrun"), *args],
            capture_output=True,
            text=True,
            input=stdin,
            env={**self.env, **env},
            timeout=60,
        )

    def gcloud(self, *args: str) -> subprocess.CompletedProcess[str]:
        """A command the user (or someone else) runs by hand, outside `cloudrun`."""
        return subprocess.run(["gcloud", *args], capture_output=True, text=True, env=self.env, check=True)

    def set(self, **changes: Any) -> None:
        state = self.state()
        state.update(changes)
        self.state_file.write_text(json.dumps(state))

    def argv_of(self, *words: str) -> list[list[str]]:
        return [c for c in self.calls() if c[: len(words)] == list(words)]


def _answer(state: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
    flt = query["filter"][0]
    service = flt.split('resource.labels.service_name="', 1)[1].split('"', 1)[0]
    usage = state.get("monitoring", {}).get(service, {})
    end = query["interval.endTime"][0]
    if "container/instance_count" in flt:
        assert query["aggregation.groupByFields"] == ["metric.labels.state"]
        return {"timeSeries": [
            {"metric": {"type": "run.googleapis.com/container/instance_count", "labels": {"state": s}},
             "resource": {"type": "cloud_run_revision", "labels": {"service_name": service}},
             "metricKind": "GAUGE", "valueType": "INT64",
             "points": [{"interval": {"startTime": end, "endTime": end}, "value": {"int64Value": str(usage[s])}}]}
            for s in ("active", "idle") if s in usage
        ]} if usage else {}  # fmt: skip
    if "container/billable_instance_time" in flt:
        if "billable_s" not in usage:
            return {}
        return {"timeSeries": [{
            "metric": {"type": "run.googleapis.com/container/billable_instance_time"},
            "resource": {"type": "cloud_run_revision", "labels": {"service_name": service}},
            "metricKind": "DELTA", "valueType": "DOUBLE",
            "points": [{"interval": {"startTime": query["interval.startTime"][0], "endTime": end},
                        "value": {"doubleValue": usage["billable_s"]}}],
        }]}  # fmt: skip
    raise AssertionError(f"unexpected metric in {flt}")


@contextmanager
def monitoring_api(cloud: CloudRunFake) -> Iterator[dict[str, str]]:
    """Serves the fake Monitoring API; yields the environment that points `cloudrun` at it."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urllib.parse.urlparse(self.path)
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                body, code = (
                    {"error": {"code": 401, "message": "Request had invalid authentication credentials."}},
                    401,
                )
            elif not url.path.startswith("/v3/projects/") or not url.path.endswith("/timeSeries"):
                body, code = {"error": {"code": 404, "message": "not found"}}, 404
            else:
                body, code = _answer(cloud.state(), urllib.parse.parse_qs(url.query)), 200
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"CLOUDSDK_API_ENDPOINT_OVERRIDES_MONITORING": f"http://127.0.0.1:{server.server_address[1]}/"}
    finally:
        server.shutdown()
        server.server_close()
