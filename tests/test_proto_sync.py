"""The committed ``goinspect/profile/profile_pb2.py`` is what protoc makes of ``proto/profile.proto``.

Regenerates with grpcio-tools' bundled protoc into a temporary directory. With
the same protoc version the files must be identical; with another version only
the version stamps may differ, so the serialized descriptor (the schema
itself) is compared instead.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROTO = ROOT / "proto" / "profile.proto"
COMMITTED = ROOT / "goinspect" / "profile" / "profile_pb2.py"
_VERSION = re.compile(r"^# Protobuf Python Version: (\S+)$", re.M)
_DESCRIPTOR = re.compile(r"AddSerializedFile\((b'.*?')\)", re.S)


def test_generated_module_matches_proto(tmp_path):
    pytest.importorskip("grpc_tools")
    res = subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO.parent}", f"--python_out={tmp_path}",
                          str(PROTO)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    fresh = (tmp_path / "profile_pb2.py").read_text()
    committed = COMMITTED.read_text()
    if _VERSION.search(fresh).group(1) == _VERSION.search(committed).group(1):
        assert fresh == committed, "regenerate: python -m grpc_tools.protoc -Iproto --python_out=goinspect/profile proto/profile.proto"
    else:
        assert _DESCRIPTOR.search(fresh).group(1) == _DESCRIPTOR.search(committed).group(1), \
            "proto/profile.proto changed: regenerate goinspect/profile/profile_pb2.py"


def test_schema_field_numbers_are_pprofs():
    """Spot-check the public profile.proto field numbers the decoder hard-codes."""
    from goinspect.profile import profile_pb2

    numbers = {f.name: f.number for f in profile_pb2.Profile.DESCRIPTOR.fields}
    assert numbers["sample"] == 2 and numbers["string_table"] == 6 and numbers["default_sample_type"] == 14
    sample = {f.name: f.number for f in profile_pb2.Sample.DESCRIPTOR.fields}
    assert sample == {"location_id": 1, "value": 2, "label": 3}
    label = {f.name: f.number for f in profile_pb2.Label.DESCRIPTOR.fields}
    assert label == {"key": 1, "str": 2, "num": 3, "num_unit": 4}
