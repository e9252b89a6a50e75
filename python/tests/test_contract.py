"""The function's contract, end to end through the handler, with the real all-MiniLM-L6-v2 model."""
from __future__ import annotations

import base64
import dataclasses
import json

import numpy as np
import pytest

from app import response as response_mod
from app.backends import Backend
from app.config import Settings
from app.handler import handle
from app.runtime import ModelRuntime
from conftest import LambdaContext, body_of

TOPICS = {
    "cooking": [
        "Simmer the tomato sauce for twenty minutes before adding basil.",
        "Knead the bread dough until it is smooth and elastic.",
        "Preheat the oven to 200 degrees and roast the vegetables.",
        "Whisk the eggs with sugar to make a light sponge cake.",
        "Season the soup with salt, pepper and a little garlic.",
        "Fry the onions in butter until they turn golden brown.",
        "This recipe needs flour, milk and two eggs for the batter.",
        "Marinate the chicken overnight in yogurt and spices.",
    ],
    "football": [
        "The striker scored twice in the second half of the match.",
        "The goalkeeper saved a penalty in the final minute.",
        "The team won the league after a draw on the last matchday.",
        "The referee showed a red card to the defender for a bad tackle.",
        "Fans filled the stadium to watch the championship final.",
        "The coach changed the formation to play with three defenders.",
        "A late header from a corner kick won the cup for the club.",
        "The midfielder was transferred to a rival club for a record fee.",
    ],
    "astronomy": [
        "The telescope captured images of a distant spiral galaxy.",
        "Jupiter has dozens of moons orbiting the giant planet.",
        "A supernova explosion can outshine an entire galaxy for weeks.",
        "Astronomers detected an exoplanet passing in front of its star.",
        "The Milky Way contains hundreds of billions of stars.",
        "A total solar eclipse happens when the Moon blocks the Sun.",
        "Black holes bend light with their immense gravity.",
        "The comet's tail always points away from the Sun.",
    ],
}

# (sentence, paraphrase, unrelated)
TRIPLES = [
    ("A man is playing a guitar.", "Someone is strumming a guitar.", "The stock market fell sharply today."),
    ("How do I reset my password?", "I forgot my password and need to change it.", "Penguins live in the southern hemisphere."),
    ("The cat is sleeping on the sofa.", "A kitten naps on the couch.", "Interest rates will rise next quarter."),
    ("The flight was delayed by three hours.", "Our plane left three hours late.", "She planted tomatoes in the garden."),
]


def invoke(runtime, event, request_id=None):
    return handle(event, LambdaContext(request_id), runtime)


def embeddings_of(runtime, texts):
    res = invoke(runtime, {"texts": texts})
    assert res["statusCode"] == 200, res
    return np.array(body_of(res)["embeddings"], dtype=np.float64)


def test_response_shape_384_dims_unit_norm(real_runtime):
    res = invoke(real_runtime, {"texts": ["hello world", "Lambda runs this model"]})
    assert res["statusCode"] == 200
    assert res["headers"] == {"Content-Type": "application/json"}
    body = body_of(res)
    assert body["count"] == 2
    assert body["dimension"] == 384
    assert body["model"] == "all-MiniLM-L6-v2"
    assert body["encoding"] == "float"
    vectors = np.array(body["embeddings"])
    assert vectors.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert not np.allclose(vectors[0], vectors[1])


def test_single_text_is_a_batch_of_one_with_the_same_embedding(real_runtime):
    single = body_of(invoke(real_runtime, {"text": "the same sentence"}))
    batch = body_of(invoke(real_runtime, {"texts": ["the same sentence", "another one"]}))
    assert single["count"] == 1 and len(single["embeddings"]) == 1
    np.testing.assert_allclose(single["embeddings"][0], batch["embeddings"][0], atol=1e-5)


@pytest.mark.parametrize("sentence,paraphrase,unrelated", TRIPLES)
def test_paraphrase_is_closer_than_unrelated(real_runtime, sentence, paraphrase, unrelated):
    e = embeddings_of(real_runtime, [sentence, paraphrase, unrelated])
    close, far = float(e[0] @ e[1]), float(e[0] @ e[2])
    # Measured: paraphrases 0.70-0.83, unrelated -0.05-0.05. A clear margin, not just an ordering.
    assert close > 0.5, (close, far)
    assert close > far + 0.3, (close, far)


def test_clustering_finds_three_topics(real_runtime):
    texts = [t for group in TOPICS.values() for t in group]
    res = invoke(real_runtime, {"texts": texts, "cluster": {"min_cluster_size": 4}})
    assert res["statusCode"] == 200, res
    body = body_of(res)
    labels = body["labels"]
    assert len(labels) == len(texts)
    assert body["n_clusters"] == 3
    assert sorted(body["cluster_sizes"]) == sorted(np.bincount([l for l in labels if l >= 0]).tolist())
    assert body["noise"] == labels.count(-1)
    # Each topic maps to one cluster, different topics to different clusters; at most one outlier per topic.
    seen = set()
    for start in range(0, len(texts), 8):
        group = [l for l in labels[start:start + 8] if l >= 0]
        assert len(group) >= 7, labels
        assert len(set(group)) == 1, labels
        seen.add(group[0])
    assert len(seen) == 3


def test_cluster_true_uses_defaults_and_few_texts_are_all_noise(real_runtime):
    body = body_of(invoke(real_runtime, {"texts": ["one", "two", "three"], "cluster": True}))
    # Default min_cluster_size is 5: three texts cannot form a cluster.
    assert body["labels"] == [-1, -1, -1]
    assert body["n_clusters"] == 0 and body["cluster_sizes"] == [] and body["noise"] == 3


def test_base64_encoding_round_trips_to_the_float_embeddings(real_runtime):
    texts = ["base64 saves bytes", "and keeps float32 precision"]
    floats = body_of(invoke(real_runtime, {"texts": texts}))
    packed = body_of(invoke(real_runtime, {"texts": texts, "encoding": "base64"}))
    assert packed["encoding"] == "base64"
    decoded = np.array([np.frombuffer(base64.b64decode(s), dtype="<f4") for s in packed["embeddings"]])
    assert decoded.shape == (2, 384)
    np.testing.assert_allclose(decoded, np.array(floats["embeddings"]), atol=1e-6)
    assert len(json.dumps(packed["embeddings"])) * 2 < len(json.dumps(floats["embeddings"]))


@pytest.mark.parametrize("wrap", ["function-url", "api-gateway-v1", "base64"])
def test_proxy_events_get_the_same_response(real_runtime, wrap):
    payload = json.dumps({"texts": ["through a Function URL"]})
    if wrap == "function-url":
        event = {"version": "2.0", "requestContext": {"http": {"method": "POST"}}, "body": payload, "isBase64Encoded": False}
    elif wrap == "api-gateway-v1":
        event = {"httpMethod": "POST", "resource": "/embed", "body": payload, "isBase64Encoded": False}
    else:
        event = {"version": "2.0", "body": base64.b64encode(payload.encode()).decode(), "isBase64Encoded": True}
    direct = body_of(invoke(real_runtime, {"texts": ["through a Function URL"]}))
    res = invoke(real_runtime, event)
    assert res["statusCode"] == 200, res
    np.testing.assert_allclose(body_of(res)["embeddings"], direct["embeddings"], atol=1e-5)


def test_response_over_6_mb_is_413_and_base64_fits(real_runtime):
    settings = dataclasses.replace(real_runtime.settings, max_texts=2000)
    rt = ModelRuntime(lambda: settings, backend=real_runtime.backend())
    texts = [f"t{i}" for i in range(800)]  # short: the response size depends on the count, not the length
    res = invoke(rt, {"texts": texts})
    assert res["statusCode"] == 413, res["statusCode"]
    body = body_of(res)
    assert "6,291,456" in body["error"] and "base64" in body["error"]
    assert response_mod.response_bytes(res) < 10_000
    packed = invoke(rt, {"texts": texts, "encoding": "base64"})
    assert packed["statusCode"] == 200
    assert response_mod.response_bytes(packed) <= response_mod.MAX_RESPONSE_BYTES


def test_limit_size_threshold_is_exact():
    small = response_mod.make_response(200, {"x": "y"})
    overhead = response_mod.response_bytes(small) - 1  # one character of payload is one byte here
    at_limit = response_mod.make_response(200, {"x": "y" * (response_mod.MAX_RESPONSE_BYTES - overhead)})
    assert response_mod.response_bytes(at_limit) == response_mod.MAX_RESPONSE_BYTES
    assert response_mod.limit_size(at_limit, "float")["statusCode"] == 200
    over = response_mod.make_response(200, {"x": "y" * (response_mod.MAX_RESPONSE_BYTES - overhead + 1)})
    assert response_mod.limit_size(over, "float")["statusCode"] == 413


class ExplodingBackend(Backend):
    """A backend whose inference fails, as a corrupt model or an out-of-memory error would."""

    name = "exploding"

    @classmethod
    def load(cls, model_dir):
        return cls()

    @property
    def dimension(self):
        return 384

    def encode(self, texts):
        raise RuntimeError("secret internal detail: tensor shape mismatch")


def test_internal_error_is_500_with_request_id_and_no_stack(real_runtime, json_logs):
    rt = ModelRuntime(lambda: real_runtime.settings, backend=ExplodingBackend())
    res = invoke(rt, {"texts": ["boom"]}, request_id="req-1234")
    assert res["statusCode"] == 500
    body = body_of(res)
    assert body["request_id"] == "req-1234"
    assert "req-1234" in body["error"]
    assert "Traceback" not in res["body"] and "secret internal detail" not in res["body"]
    # The stack goes to the structured log instead.
    failures = [r for r in json_logs() if r.get("message") == "request failed"]
    assert failures and "secret internal detail" in failures[-1]["exception"]
    assert "Traceback" in failures[-1]["exception"]


def test_model_unavailable_is_500_then_recovers_on_a_later_call(model_dir, tmp_path):
    """A load that fails at init (here: MODEL_DIR not there yet) is retried by the next invocation."""
    target = tmp_path / "model"
    rt = ModelRuntime(lambda: Settings.from_env({"MODEL_DIR": str(target)}))
    assert rt.try_load() is False
    res = invoke(rt, {"texts": ["anyone there?"]}, request_id="req-missing")
    assert res["statusCode"] == 500 and body_of(res)["request_id"] == "req-missing"
    # Bad input is still a 400 while the model is unavailable: validation does not need the model.
    assert invoke(rt, {"texts": []})["statusCode"] == 400
    target.symlink_to(model_dir)
    res = invoke(rt, {"texts": ["anyone there?"]})
    assert res["statusCode"] == 200, res
    assert body_of(res)["dimension"] == 384


def test_lambda_handler_logs_structured_lines_with_request_id(handler_module, json_logs):
    res = handler_module.lambda_handler({"texts": ["log me"]}, LambdaContext("req-log-1"))
    assert res["statusCode"] == 200
    records = json_logs()
    done = [r for r in records if r.get("message") == "request done"]
    assert done, records
    assert done[-1]["function_request_id"] == "req-log-1"
    assert done[-1]["count"] == 1 and done[-1]["status"] == 200
    assert done[-1]["service"] == "ml-lambda"
    # Texts are the caller's data: counts are logged, content never.
    assert "log me" not in json.dumps(records)
