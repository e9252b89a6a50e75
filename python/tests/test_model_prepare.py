"""The model build step's pure logic (components/model/prepare_model.py, check_onnx.py), tested directly: which
published ONNX file a backend takes on which architecture, the hub listing's sha256, the Hugging Face cache's blob
names, the refusal texts (both numbers), the parity math, and the reference embeddings the package ships."""
from __future__ import annotations

import base64
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "components" / "model"))

import check_onnx  # noqa: E402
import prepare_model as pm  # noqa: E402
from export_onnx import PARITY_CORPUS, PARITY_FLOOR  # noqa: E402

REV = "1110a243fdf4706b3f48f1d95db1a4f5529b4d41"
SHA_A = "a" * 64
SHA_B = "b" * 64


@pytest.mark.parametrize("backend, arch, expected", [
    ("onnx", "x86_64", "onnx/model.onnx"),
    ("onnx", "arm64", "onnx/model.onnx"),
    # u8 x u8: no VPMADDUBSW saturation on x86-64 CPUs without VNNI (Lambda promises AVX2, not VNNI).
    ("onnx-int8", "x86_64", "onnx/model_quint8_avx2.onnx"),
    ("onnx-int8", "arm64", "onnx/model_qint8_arm64.onnx"),
])
def test_the_published_file_a_backend_takes_depends_on_the_architecture(backend, arch, expected):
    assert pm.published_onnx_name(backend, arch) == expected


def test_every_backend_and_architecture_has_a_published_file_name():
    assert {(b, a) for b in pm.ONNX_BACKENDS for a in pm.ARCHITECTURES} == set(pm.PUBLISHED_ONNX)


def listing(*siblings):
    return {"sha": REV, "siblings": list(siblings)}


def test_the_listed_sha256_is_the_lfs_one_and_only_lfs_files_have_one():
    info = listing(
        {"rfilename": "onnx/model.onnx", "size": 90405214, "blobId": "f" * 40,
         "lfs": {"sha256": SHA_A.upper(), "size": 90405214, "pointerSize": 135}},
        {"rfilename": "config.json", "size": 612, "blobId": "c" * 40},
        {"rfilename": "broken.onnx", "lfs": {"sha256": "not-a-hash"}},
    )
    assert pm.listed_sha256(info, "onnx/model.onnx") == SHA_A  # normalized to lower case
    assert pm.listed_sha256(info, "config.json") is None  # a git blob id is not a sha256
    assert pm.listed_sha256(info, "broken.onnx") is None
    assert pm.listed_sha256(info, "onnx/absent.onnx") is None
    assert pm.listed_files(info) == ["broken.onnx", "config.json", "onnx/model.onnx"]


def test_a_hash_mismatch_names_both_hashes_and_where_the_expected_one_came_from():
    assert pm.hash_mismatch("onnx/model.onnx", SHA_A, SHA_A.upper(), "the hub") is None
    text = pm.hash_mismatch("onnx/model.onnx", SHA_B, SHA_A, "what the hub lists for that revision")
    assert text == f"onnx/model.onnx: sha256 {SHA_B} differs from what the hub lists for that revision ({SHA_A})"


def test_a_hf_cache_blob_name_is_a_sha256_only_for_lfs_blobs(tmp_path):
    blobs = tmp_path / "blobs"
    blobs.mkdir()
    (blobs / SHA_A).write_bytes(b"graph")
    (blobs / ("c" * 40)).write_bytes(b"{}")
    snap = tmp_path / "snapshots" / REV / "onnx"
    snap.mkdir(parents=True)
    os.symlink(f"../../../blobs/{SHA_A}", snap / "model.onnx")
    os.symlink(f"../../../blobs/{'c' * 40}", snap / "config.json")
    (snap / "plain.onnx").write_bytes(b"graph")
    assert pm.blob_sha256(str(snap / "model.onnx")) == SHA_A
    assert pm.blob_sha256(str(snap / "config.json")) is None
    assert pm.blob_sha256(str(snap / "plain.onnx")) is None


def test_the_parity_refusal_names_the_minimum_the_floor_and_the_worst_text():
    ok = {"sentences": 14, "cosine_min": 0.9995, "cosine_mean": 0.9999, "worst_text": "hello"}
    assert pm.parity_refusal(ok, 0.999) is None
    low = {**ok, "cosine_min": 0.998325, "cosine_mean": 0.999475}
    text = pm.parity_refusal(low, 0.999)
    assert text.startswith("minimum cosine 0.998325 to the reference embeddings is below the floor 0.999")
    assert "mean 0.999475 over 14 texts" in text and "'hello'" in text
    assert pm.parity_refusal(low, PARITY_FLOOR["onnx-int8"]) is None


def test_the_onnx_source_setting_is_validated():
    assert pm.onnx_source_mode({}) == "auto"
    assert pm.onnx_source_mode({"ML_LAMBDA_ONNX_SOURCE": "export"}) == "export"
    with pytest.raises(pm.UserError) as e:
        pm.onnx_source_mode({"ML_LAMBDA_ONNX_SOURCE": "hub"})
    assert e.value.setting == "ML_LAMBDA_ONNX_SOURCE" and "auto, export" in e.value.limit


def test_weights_are_told_apart_from_what_the_onnx_backend_reads():
    assert all(pm.is_weight(f) for f in ("model.safetensors", "pytorch_model.bin", "onnx/model.onnx", "model.onnx"))
    assert not any(pm.is_weight(f) for f in ("tokenizer.json", "1_Pooling/config.json", "vocab.txt"))


# ---------------------------------------------------------------- parity math (check_onnx.py)


def test_cosine_parity_is_per_text_and_does_not_assume_unit_rows():
    ref = np.eye(3, 4, dtype=np.float32)
    ours = ref * 5.0  # same directions, other lengths
    ours[2] = [0, 0, 1, 1]  # 45 degrees from [0, 0, 1, 0]
    p = check_onnx.cosine_parity(ours, ref, np)
    assert p["sentences"] == 3 and p["worst"] == 2
    assert p["cosine_min"] == round(float(np.cos(np.pi / 4)), 6)
    assert p["cosine_mean"] == round((2 + float(np.cos(np.pi / 4))) / 3, 6)


def test_cosine_parity_refuses_a_different_shape():
    with pytest.raises(check_onnx.CheckError, match=r"shape \(2, 4\).*\(2, 3\)"):
        check_onnx.cosine_parity(np.ones((2, 4)), np.ones((2, 3)), np)


def test_smoke_problems_catch_wrong_shape_nan_and_non_unit_rows():
    good = np.eye(2, 3, dtype=np.float32)
    assert check_onnx.smoke_problems(good, 3, 2, np) == []
    assert "shape" in check_onnx.smoke_problems(good, 4, 2, np)[0]
    assert check_onnx.smoke_problems(good * np.nan, 3, 2, np) == ["non-finite values"]
    assert "unit vectors" in check_onnx.smoke_problems(good * 2, 3, 2, np)[0]


# ---------------------------------------------------------------- the shipped reference embeddings


@pytest.fixture(scope="module")
def reference():
    path = pm.find_reference("sentence-transformers/all-MiniLM-L6-v2", REV)
    assert path is not None, "the default model's reference embeddings ship in components/model/references/"
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def test_references_are_found_only_for_their_exact_model_and_revision():
    assert pm.find_reference("sentence-transformers/all-MiniLM-L6-v2", "0" * 40) is None
    assert pm.find_reference("acme/other", REV) is None


def test_the_reference_file_says_how_it_was_made_and_decodes_exactly(reference):
    made = reference["made_with"]
    for k in ("sentence-transformers", "transformers", "torch", "python", "model_files_from"):
        assert made[k], k
    assert made["dtype"] == "float32" and made["normalize_embeddings"] is True and made["device"] == "cpu"
    assert len(reference["model"]["weights"]["sha256"]) == 64
    assert reference["corpus"] == list(PARITY_CORPUS), "the same texts as the torch export's parity check"
    texts, emb = check_onnx.decode_reference(reference, np)
    assert texts == reference["corpus"] and emb.shape == (len(texts), 384) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    raw = base64.b64decode(reference["embeddings"]["base64"])
    assert np.frombuffer(raw, dtype="<f4").tobytes() == emb.tobytes()


def test_the_reference_embeddings_are_what_sentence_transformers_computes_for_the_real_model(reference, real_runtime):
    """Recomputed with this venv's sentence-transformers on the real model (the torch backend's model)."""
    _, emb = check_onnx.decode_reference(reference, np)
    again = real_runtime.backend()._model.encode(reference["corpus"], normalize_embeddings=True, convert_to_numpy=True)
    cos = (again * emb).sum(axis=1)
    assert cos.min() >= 0.99999, cos.min()


def test_a_corrupt_reference_is_refused(reference):
    bad = {**reference, "embeddings": {**reference["embeddings"], "shape": [3, 384]}}
    with pytest.raises(check_onnx.CheckError, match="regenerate the reference|reference embeddings hold"):
        check_onnx.decode_reference(bad, np)
