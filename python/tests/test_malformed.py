"""Malformed events get a 400 that names the field (or a 413), never a 500 or an exception: a table of cases,
then a property-based run with hypothesis. Both go through the whole handler with the real model loaded."""
from __future__ import annotations

import base64
import collections
import dataclasses
import json

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from app.handler import handle
from app.runtime import ModelRuntime
from conftest import LambdaContext, body_of

# Small limits so the "too many / too long" rows stay cheap; the defaults are covered in test_config.py.
MAX_TEXTS = 8
MAX_TEXT_CHARS = 200


@pytest.fixture(scope="module")
def runtime(real_runtime):
    limited = dataclasses.replace(real_runtime.settings, max_texts=MAX_TEXTS, max_text_chars=MAX_TEXT_CHARS)
    return ModelRuntime(lambda: limited, backend=real_runtime.backend())


def proxy(body, b64=False):
    return {"version": "2.0", "requestContext": {"http": {"method": "POST"}}, "body": body, "isBase64Encoded": b64}


# (id, event, field the 400 must name)
MALFORMED = [
    ("not-an-object", ["texts"], "event"),
    ("string-event", "hello", "event"),
    ("null-event", None, "event"),
    ("empty-object", {}, "texts"),
    ("texts-null", {"texts": None}, "texts"),
    ("texts-string", {"texts": "just one string"}, "texts"),
    ("texts-object", {"texts": {"a": "b"}}, "texts"),
    ("texts-empty", {"texts": []}, "texts"),
    ("texts-number-item", {"texts": ["ok", 42]}, "texts[1]"),
    ("texts-null-item", {"texts": [None]}, "texts[0]"),
    ("texts-nested-list", {"texts": [["nested"]]}, "texts[0]"),
    ("texts-empty-string", {"texts": ["fine", ""]}, "texts[1]"),
    ("texts-whitespace", {"texts": ["   \n\t"]}, "texts[0]"),
    ("texts-too-many", {"texts": ["x"] * (MAX_TEXTS + 1)}, "texts"),
    ("texts-too-long", {"texts": ["a" * (MAX_TEXT_CHARS + 1)]}, "texts[0]"),
    ("texts-lone-surrogate", {"texts": ["bad \ud800 surrogate"]}, "texts[0]"),
    ("text-number", {"text": 3.14}, "text"),
    ("text-empty", {"text": ""}, "text"),
    ("text-too-long", {"text": "b" * (MAX_TEXT_CHARS + 1)}, "text"),
    ("text-and-texts", {"text": "a", "texts": ["b"]}, "text"),
    ("unknown-field", {"texts": ["a"], "txets": ["typo"]}, "txets"),
    ("encoding-unknown", {"texts": ["a"], "encoding": "float16"}, "encoding"),
    ("encoding-number", {"texts": ["a"], "encoding": 64}, "encoding"),
    ("cluster-string", {"texts": ["a"], "cluster": "yes"}, "cluster"),
    ("cluster-list", {"texts": ["a"], "cluster": [5]}, "cluster"),
    ("cluster-size-1", {"texts": ["a"], "cluster": {"min_cluster_size": 1}}, "cluster.min_cluster_size"),
    ("cluster-size-float", {"texts": ["a"], "cluster": {"min_cluster_size": 5.5}}, "cluster.min_cluster_size"),
    ("cluster-size-bool", {"texts": ["a"], "cluster": {"min_cluster_size": True}}, "cluster.min_cluster_size"),
    ("cluster-size-string", {"texts": ["a"], "cluster": {"min_cluster_size": "5"}}, "cluster.min_cluster_size"),
    ("cluster-min-samples-0", {"texts": ["a"], "cluster": {"min_samples": 0}}, "cluster.min_samples"),
    ("cluster-epsilon-negative", {"texts": ["a"], "cluster": {"cluster_selection_epsilon": -0.1}}, "cluster.cluster_selection_epsilon"),
    ("cluster-epsilon-nan", {"texts": ["a"], "cluster": {"cluster_selection_epsilon": float("nan")}}, "cluster.cluster_selection_epsilon"),
    ("cluster-epsilon-inf", {"texts": ["a"], "cluster": {"cluster_selection_epsilon": float("inf")}}, "cluster.cluster_selection_epsilon"),
    ("cluster-method", {"texts": ["a"], "cluster": {"cluster_selection_method": "kmeans"}}, "cluster.cluster_selection_method"),
    ("cluster-single-string", {"texts": ["a"], "cluster": {"allow_single_cluster": "true"}}, "cluster.allow_single_cluster"),
    ("cluster-unknown-param", {"texts": ["a"], "cluster": {"metric": "cosine"}}, "cluster.metric"),
    ("proxy-body-null", proxy(None), "body"),
    ("proxy-body-number", proxy(12), "body"),
    ("proxy-body-not-json", proxy("{not json"), "body"),
    ("proxy-body-json-array", proxy('["a", "b"]'), "body"),
    ("proxy-body-bad-base64", proxy("!!!not base64!!!", b64=True), "body"),
    ("proxy-body-base64-not-utf8", proxy(base64.b64encode(b"\xff\xfe\xfa").decode(), b64=True), "body"),
    ("proxy-body-missing-texts", proxy(json.dumps({"input": "x"})), "input"),
    ("proxy-body-base64-bad-item", proxy(base64.b64encode(json.dumps({"texts": [1]}).encode()).decode(), b64=True), "texts[0]"),
    ("proxy-body-deeply-nested", proxy("[" * 100_000 + "]" * 100_000), "body"),
]


def test_table_has_at_least_twenty_cases():
    assert len(MALFORMED) >= 20


@pytest.mark.parametrize("event,field", [pytest.param(e, f, id=i) for i, e, f in MALFORMED])
def test_malformed_event_is_400_naming_the_field(runtime, event, field):
    res = handle(event, LambdaContext(), runtime)
    assert res["statusCode"] == 400, res
    body = body_of(res)
    assert body["field"] == field
    assert body["error"].startswith(f"{field}: ")
    assert "Traceback" not in res["body"]


# ---------------------------------------------------------------- property-based

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
# Texts that look almost right: mostly strings (some empty, long or with surrogates), sometimes not.
text_items = (
    st.text(max_size=40)
    | st.text(min_size=MAX_TEXT_CHARS - 2, max_size=MAX_TEXT_CHARS + 2, alphabet="ab ")
    | st.just("\udc80")
    | json_scalars
)
cluster_specs = st.none() | st.booleans() | json_values | st.fixed_dictionaries(
    {},
    optional={
        "min_cluster_size": st.integers(-2, 12) | json_scalars,
        "min_samples": st.none() | st.integers(-1, 12) | json_scalars,
        "cluster_selection_epsilon": st.floats(allow_nan=True) | json_scalars,
        "cluster_selection_method": st.sampled_from(["eom", "leaf", "other"]) | json_scalars,
        "allow_single_cluster": st.booleans() | json_scalars,
        "bogus": json_scalars,
    },
)
payloads = st.fixed_dictionaries(
    {},
    optional={
        "texts": st.lists(text_items, max_size=MAX_TEXTS + 2) | json_values,
        "text": text_items,
        "encoding": st.sampled_from(["float", "base64", "hex"]) | json_scalars,
        "cluster": cluster_specs,
        "extra": json_scalars,
    },
)


# Valid requests too, so the property also covers the 200 path (embedding, clustering, both encodings).
valid_texts = st.text(min_size=1, max_size=40).filter(lambda t: t.strip() != "")
valid_payloads = st.fixed_dictionaries(
    {"texts": st.lists(valid_texts, min_size=1, max_size=MAX_TEXTS)},
    optional={
        "encoding": st.sampled_from(["float", "base64"]),
        "cluster": st.booleans() | st.fixed_dictionaries(
            {},
            optional={
                "min_cluster_size": st.integers(2, 6),
                "min_samples": st.none() | st.integers(1, 6),
                "cluster_selection_epsilon": st.floats(0, 2),
                "cluster_selection_method": st.sampled_from(["eom", "leaf"]),
                "allow_single_cluster": st.booleans(),
            },
        ),
    },
)


def as_proxy(payload):
    return payload.map(lambda p: proxy(json.dumps(p))) | payload.map(
        lambda p: proxy(base64.b64encode(json.dumps(p).encode("utf-8", "surrogatepass")).decode(), b64=True)
    )


events = (
    payloads
    | valid_payloads
    | as_proxy(payloads | valid_payloads)
    | json_values
    | st.builds(proxy, st.text(max_size=40), st.booleans())
)


event_statuses: collections.Counter = collections.Counter()


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(event=events)
def test_any_event_gets_200_400_or_413_never_500(runtime, event):
    res = handle(event, LambdaContext(), runtime)
    status = res["statusCode"]
    assert status in (200, 400, 413), res
    body = body_of(res)
    event_statuses[status] += 1
    if status == 200:
        assert body["count"] == len(body["embeddings"]) >= 1
        assert body["dimension"] == 384
        if "labels" in body:
            assert len(body["labels"]) == body["count"]
            assert sum(body["cluster_sizes"]) + body["noise"] == body["count"]
    else:
        assert body["field"] and body["error"].startswith(body["field"] + ": ")


def test_property_run_covered_both_outcomes():
    """Guards the generator: a run that only ever produced 400s would prove little about the 200 path."""
    if not event_statuses:
        pytest.skip("runs only after the property test in the same session")
    print(dict(event_statuses))
    # Hypothesis draws differ from run to run: over 13 runs of 250 events the 400s ranged from 77 to 148 (the
    # 200s from 102 to 173), so a floor of 100 failed about one run in ten; 50 still proves both paths ran.
    assert event_statuses[200] >= 20 and event_statuses[400] >= 50, event_statuses
