"""Output UIDs are derived from the job key: a resend after a crash yields the very same instances."""

from __future__ import annotations

import pytest

from dicomnode.results.uids import UidFactory, derive_uid, validate_root, validate_uid


def test_same_job_and_role_give_the_same_uid_and_different_roles_differ() -> None:
    a = derive_uid("1.2.826.0.1.3680043.10.999", "job-1", "seg.instance")
    assert a == derive_uid("1.2.826.0.1.3680043.10.999", "job-1", "seg.instance")
    assert a != derive_uid("1.2.826.0.1.3680043.10.999", "job-1", "sr.instance")
    assert a != derive_uid("1.2.826.0.1.3680043.10.999", "job-2", "seg.instance")
    assert a.startswith("1.2.826.0.1.3680043.10.999.")


@pytest.mark.parametrize("root", ["2.25", "1.2.3", "1.2.826.0.1.3680043.10.999", "1." + "2" * 40])
def test_derived_uids_are_valid_dicom_uids(root: str) -> None:
    for role in ("seg.series", "seg.instance", "picture.instance.3", "segment.123"):
        uid = derive_uid(root, "job", role)
        assert validate_uid(uid) == uid
        assert len(uid) <= 64
        assert all(not (c.startswith("0") and c != "0") for c in uid.split("."))


def test_uuid_root_suffix_is_a_128_bit_integer() -> None:
    uid = derive_uid("2.25", "job", "seg.instance")
    assert int(uid.split(".", 2)[2]) < 2**128


@pytest.mark.parametrize("root", ["", "1.02.3", "1..2", "abc", "1.2.x", "1." + "2" * 60])
def test_bad_roots_are_refused_with_the_setting_named(root: str) -> None:
    with pytest.raises(ValueError, match="uid_root"):
        validate_root(root)


def test_factory_needs_a_job_key() -> None:
    with pytest.raises(ValueError, match="job key"):
        UidFactory("1.2.3", "")
    assert UidFactory("1.2.3", "k").uid("x") == derive_uid("1.2.3", "k", "x")
