"""The onnx backends: parity with sentence-transformers on torch, the tokenizer settings it relies on, no torch at
run time, the handler's contract, and the artifacts the build step makes (components/model/prepare_model.py)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.backends import BackendError, load_backend
from app.backends.onnx_backend import available_cpus, memory_vcpus, threads_from_env
from app.config import Settings
from app.handler import handle
from app.runtime import ModelRuntime
from conftest import SRC, LambdaContext, body_of
from corpus import RETRIEVAL_DOCS, RETRIEVAL_QUERIES, SENTENCES


@pytest.fixture(scope="module")
def torch_backend(real_runtime):
    """The reference: sentence-transformers on torch, as the function's torch backend runs it."""
    return real_runtime.backend()


@pytest.fixture(scope="module")
def fp32(onnx_model):
    return load_backend("onnx", Path(onnx_model["stagedDir"]))


@pytest.fixture(scope="module")
def int8(onnx_int8_model):
    return load_backend("onnx-int8", Path(onnx_int8_model["stagedDir"]))


def worst(cos: np.ndarray) -> str:
    i = int(cos.argmin())
    return f"worst: {SENTENCES[i][:60]!r} cosine {cos[i]:.6f}"


def test_fp32_matches_sentence_transformers_on_every_sentence(torch_backend, fp32):
    reference, ours = torch_backend.encode(SENTENCES), fp32.encode(SENTENCES)
    cos = (reference * ours).sum(axis=1)
    assert cos.min() >= 0.999, worst(cos)
    print(f"\nonnx fp32 vs torch: cosine min {cos.min():.7f}, mean {cos.mean():.7f} over {len(SENTENCES)} texts")


def test_int8_stays_close_on_every_sentence(torch_backend, int8):
    reference, ours = torch_backend.encode(SENTENCES), int8.encode(SENTENCES)
    cos = (reference * ours).sum(axis=1)
    assert cos.min() >= 0.98, worst(cos)
    print(f"\nonnx int8 vs torch: cosine min {cos.min():.5f}, mean {cos.mean():.5f} over {len(SENTENCES)} texts")


@pytest.mark.parametrize("which", ["torch", "onnx", "onnx-int8"])
def test_retrieval_finds_the_same_nearest_document(which, torch_backend, fp32, int8):
    backend = {"torch": torch_backend, "onnx": fp32, "onnx-int8": int8}[which]
    keys = list(RETRIEVAL_DOCS)
    docs = backend.encode([RETRIEVAL_DOCS[k] for k in keys])
    queries = backend.encode(list(RETRIEVAL_QUERIES))
    found = [keys[i] for i in (queries @ docs.T).argmax(axis=1)]
    assert found == list(RETRIEVAL_QUERIES.values())


def test_int8_similarities_stay_close_to_torch(torch_backend, int8):
    """Beyond the top hit: every query-document similarity moves little (ranks 2-3 among unrelated documents are
    near ties at ~0.1 and may swap; the scores themselves should not drift)."""
    keys = list(RETRIEVAL_DOCS)
    docs = [RETRIEVAL_DOCS[k] for k in keys]
    sim_t = torch_backend.encode(list(RETRIEVAL_QUERIES)) @ torch_backend.encode(docs).T
    sim_q = int8.encode(list(RETRIEVAL_QUERIES)) @ int8.encode(docs).T
    drift = np.abs(sim_t - sim_q).max()
    assert drift <= 0.05, drift
    print(f"\nonnx int8: largest query-document similarity change {drift:.4f}")


def test_tokenization_is_sentence_transformers_own(torch_backend, fp32):
    """Same word pieces, truncation at max_seq_length (256, not tokenizer.json's 128) and padding to the longest."""
    st = torch_backend._model
    expected = st.tokenizer(SENTENCES, padding=True, truncation="longest_first", max_length=st.max_seq_length)
    ours = fp32._tokenizer.encode_batch(SENTENCES)
    assert st.max_seq_length == 256 and fp32._tokenizer.truncation["max_length"] == 256
    assert [e.ids for e in ours] == expected["input_ids"]
    assert [e.attention_mask for e in ours] == expected["attention_mask"]
    assert max(sum(e.attention_mask) for e in ours) == 256  # the long texts really are cut at 256
    assert len(fp32._tokenizer.encode_batch(["hi", "hello there"])[0].ids) == 4  # padded to the batch, not to 128


def test_embedding_does_not_depend_on_the_batch(fp32):
    alone = np.stack([fp32.encode([t])[0] for t in SENTENCES[:8]])
    together = fp32.encode(SENTENCES[:8] + [SENTENCES[-1]])[:8]
    np.testing.assert_allclose(alone, together, atol=2e-5)


def test_the_onnx_runtime_imports_neither_torch_nor_transformers(onnx_model):
    """The function's whole init (app.handler: config, logging, model load, warm-up) with MODEL_BACKEND=onnx."""
    code = (
        "import sys, json\n"
        f"sys.path.insert(0, {str(SRC)!r})\n"
        "import app.handler as h\n"
        "assert h.runtime.loaded\n"
        "heavy = ('torch', 'transformers', 'sentence_transformers', 'sklearn', 'scipy')\n"
        "print(json.dumps(sorted(m for m in heavy if m in sys.modules)))\n"
    )
    env = {**os.environ, "MODEL_DIR": onnx_model["stagedDir"], "MODEL_BACKEND": "onnx", "POWERTOOLS_LOG_LEVEL": "ERROR"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads(r.stdout.strip().splitlines()[-1]) == []


def test_the_handler_returns_unit_vectors_of_384_with_the_onnx_backend(fp32, onnx_model):
    settings = Settings(model_dir=onnx_model["stagedDir"], backend="onnx")
    rt = ModelRuntime(settings_factory=lambda: settings, backend=fp32)
    texts = ["Embeddings on onnxruntime.", "No torch in this function.", "Bananas are yellow."] * 3
    response = handle({"texts": texts, "cluster": {"min_cluster_size": 3}}, LambdaContext(), rt)
    assert response["statusCode"] == 200, response
    body = body_of(response)
    vectors = np.array(body["embeddings"])
    assert vectors.shape == (9, 384) and body["dimension"] == 384 and body["count"] == 9
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # Repeated texts cluster together: three groups of three.
    assert body["n_clusters"] == 3 and body["labels"][:3] == body["labels"][3:6] == body["labels"][6:9]


def test_an_artifact_for_the_other_variant_is_refused(onnx_model, onnx_int8_model, model_dir):
    with pytest.raises(BackendError, match="prepared for MODEL_BACKEND='onnx'.*runs MODEL_BACKEND='onnx-int8'"):
        load_backend("onnx-int8", Path(onnx_model["stagedDir"]))
    with pytest.raises(BackendError, match="prepared for MODEL_BACKEND='onnx-int8'"):
        load_backend("onnx", Path(onnx_int8_model["stagedDir"]))
    # The torch artifact (the model's own files) has no graph.
    with pytest.raises(BackendError, match="has no model.onnx.*prepared for the torch backend"):
        load_backend("onnx", model_dir)


def test_artifacts_carry_the_graph_tokenizer_configs_and_their_measured_parity(onnx_model, onnx_int8_model):
    for prepared, floor in ((onnx_model, 0.999), (onnx_int8_model, 0.98)):
        files = set(prepared["files"])
        assert {"model.onnx", "tokenizer.json", "sentence_bert_config.json", "modules.json", "1_Pooling/config.json",
                "ml_lambda_onnx.json"} <= files, files
        assert not any(f.endswith((".safetensors", ".bin")) for f in files), "torch weights are not shipped"
        manifest = json.loads((Path(prepared["stagedDir"]) / "ml_lambda_onnx.json").read_text())
        assert manifest["backend"] == prepared["backend"]
        assert manifest["max_seq_length"] == 256 and manifest["pooling"] == "mean" and manifest["normalize"] is True
        assert manifest["parity"]["cosine_min"] >= floor and manifest["parity"]["floor"] == floor
        assert set(manifest["exporter_versions"]) >= {"torch", "transformers", "onnx", "onnxruntime"}
    assert onnx_int8_model["unpackedBytes"] < onnx_model["unpackedBytes"]
    assert json.loads((Path(onnx_int8_model["stagedDir"]) / "ml_lambda_onnx.json").read_text())["quantization"]["method"] == "dynamic"


@pytest.mark.parametrize("memory, share", [("128", 1), ("1769", 1), ("2600", 1), ("2700", 2), ("3008", 2), ("10240", 6), ("", None), ("x", None)])
def test_threads_follow_the_memory_vcpu_share(memory, share):
    assert memory_vcpus({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": memory}) == share
    expected = min(available_cpus(), share) if share else available_cpus()
    assert threads_from_env({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": memory}) == expected
    assert threads_from_env({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": memory, "ONNX_THREADS": "3"}) == 3


def test_threads_default_to_the_available_vcpus_and_can_be_set(monkeypatch, onnx_model):
    assert available_cpus() == len(os.sched_getaffinity(0)) or available_cpus() < len(os.sched_getaffinity(0))
    monkeypatch.setenv("ONNX_THREADS", "1")
    assert load_backend("onnx", Path(onnx_model["stagedDir"])).threads == 1
    monkeypatch.setenv("ONNX_THREADS", "zero")
    with pytest.raises(BackendError, match="ONNX_THREADS must be a positive integer"):
        load_backend("onnx", Path(onnx_model["stagedDir"]))


def test_every_backend_reports_its_threads(torch_backend, fp32):
    """What the "model loaded" log line reports: torch's own thread count, the onnx session's intra-op threads."""
    import torch

    assert torch_backend.threads == torch.get_num_threads() >= 1
    assert fp32.threads == threads_from_env() >= 1
