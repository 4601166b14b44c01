"""DICOM TLS: with a certificate and key configured, the node speaks TLS and refuses plain TCP."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

import pytest
from pynetdicom import AE
from pynetdicom.sop_class import Verification


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl not installed")
    key, cert = tmp_path / "node.key", tmp_path / "node.crt"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=localhost"], check=True, capture_output=True)
    return cert, key


def _echo(port: int, tls: ssl.SSLContext | None) -> bool:
    ae = AE(ae_title="ECHOSCU")
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.network_timeout = 5
    association = ae.associate("127.0.0.1", port, ae_title="DICOMNODE",
                               tls_args=(tls, "localhost") if tls else None)
    if not association.is_established:
        return False
    status = association.send_c_echo()
    association.release()
    return int(status.Status) == 0


def test_tls_node_answers_tls_echo_and_refuses_plain_tcp(node_factory, certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    node = node_factory(f'[security]\ntls_certificate = "{cert}"\ntls_key = "{key}"')
    client = ssl.create_default_context(cafile=str(cert))
    assert _echo(node.port, client)
    assert not _echo(node.port, None)
