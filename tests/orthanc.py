"""A real Orthanc (Debian package) as the PACS in tests, on free loopback ports, with its own storage."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.node.conftest import free_port


@dataclass
class Orthanc:
    root: Path
    http_port: int
    dicom_port: int
    aet: str = "ORTHANC"
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def write_config(self, modalities: dict[str, list[Any]]) -> Path:
        config = {
            "Name": "test-pacs",
            "StorageDirectory": str(self.root / "storage"),
            "IndexDirectory": str(self.root / "index"),
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": self.aet,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "DicomCheckCalledAet": False,
            "DicomModalities": modalities,
            "DicomAlwaysAllowStore": True,
            "DicomAlwaysAllowEcho": True,
            "StableAge": 1,
            "Plugins": [],
            "DefaultEncoding": "Utf8",
            "HttpTimeout": 60,
        }
        path = self.root / "orthanc.json"
        path.write_text(json.dumps(config))
        return path

    def start(self, modalities: dict[str, list[Any]] | None = None) -> Orthanc:
        binary = shutil.which("Orthanc") or "/usr/sbin/Orthanc"
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.write_config(modalities or {})
        log = (self.root / "orthanc.log").open("ab")
        self.process = subprocess.Popen([binary, str(config)], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                self.get("/system")
                return self
            except (urllib.error.URLError, ConnectionError):
                if self.process.poll() is not None:
                    raise AssertionError((self.root / "orthanc.log").read_text()) from None
                time.sleep(0.2)
        raise AssertionError("Orthanc did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def request(self, method: str, path: str, body: Any = None, raw: bytes | None = None) -> Any:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(self.url + path, data=data, method=method)
        with urllib.request.urlopen(request, timeout=120) as response:
            payload = response.read()
        return json.loads(payload) if payload[:1] in (b"{", b"[") else payload

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def upload(self, file: Path) -> dict[str, Any]:
        return self.request("POST", "/instances", raw=file.read_bytes())

    def push_series(self, files: list[Path], modality: str) -> str:
        """Upload one series, then have Orthanc itself C-STORE it to ``modality`` (REST
        ``/modalities/<name>/store``, as an admin's routing would); returns the study's Orthanc ID."""
        for file in files:
            self.upload(file)
        [study_id] = self.get("/studies")
        [series_id] = self.get(f"/studies/{study_id}")["Series"]
        self.request("POST", f"/modalities/{modality}/store", {"Resources": [series_id], "Synchronous": True})
        return study_id

    def instance_count(self) -> int:
        return len(self.get("/instances"))


def make_orthanc(root: Path) -> Orthanc:
    return Orthanc(root, free_port(), free_port())
