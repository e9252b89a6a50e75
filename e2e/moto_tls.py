"""moto_server for the e2e test, with ONE addition: S3 bucket policies see `aws:SecureTransport`.

moto 5.2.5 evaluates a bucket policy without the request's context: a Condition whose operator it does not know
(Bool among them) counts as met, and a Deny statement whose condition fails is reported as DENIED rather than as
not applying. The model bucket's TLS-only policy ("Deny s3:* when aws:SecureTransport is false") therefore denies
every object request, over HTTPS too, and nothing that needs the bucket can be deployed.

This shim does what S3 does for that one key: the Bool operator, with aws:SecureTransport taken from the scheme of
the request being served ("true" over HTTPS, "false" over HTTP), and a statement whose condition is not met does
not apply. Statements with any other condition are left to moto as released. Everything else is moto 5.2.5.

    python moto_tls.py [moto_server arguments]      the server
    python moto_tls.py --self-test                   the policy over HTTP is denied, over HTTPS allowed (in-process)
"""
from __future__ import annotations

import json
import sys
import threading

from moto.iam.access_control import IAMPolicy, PermissionResult
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.s3.models import FakeBucket

_request = threading.local()
_original_call = DomainDispatcherApplication.__call__


def _call_with_scheme(self, environ, start_response):
    # werkzeug serves each request in one thread: the backend call below runs in the same one.
    _request.secure = environ.get("wsgi.url_scheme") == "https"
    return _original_call(self, environ, start_response)


def _condition_holds(condition: dict, context: dict) -> bool | None:
    """True/False for conditions made only of Bool on keys we know; None (leave it to moto) otherwise."""
    result = True
    for operator, entries in condition.items():
        if operator != "Bool" or any(key not in context for key in entries):
            return None
        for key, expected in entries.items():
            values = expected if isinstance(expected, list) else [expected]
            result = result and context[key] in [str(v).lower() for v in values]
    return result


def _get_permission(self, action: str, resource: str):
    if self.policy is None:
        return PermissionResult.NEUTRAL
    policy = json.loads(self.policy.decode())
    statements = policy["Statement"] if isinstance(policy["Statement"], list) else [policy["Statement"]]
    context = {"aws:SecureTransport": "true" if getattr(_request, "secure", False) else "false"}
    kept = []
    for statement in statements:
        holds = _condition_holds(statement["Condition"], context) if "Condition" in statement else True
        if holds is None:
            kept.append(statement)  # moto's own handling
        elif holds:
            kept.append({k: v for k, v in statement.items() if k != "Condition"})
    if not kept:
        return PermissionResult.NEUTRAL
    return IAMPolicy(json.dumps({**policy, "Statement": kept})).is_action_permitted(action, resource)


DomainDispatcherApplication.__call__ = _call_with_scheme
FakeBucket.get_permission = _get_permission


def self_test() -> None:
    """The TLS-only policy through the real server app: PUT over HTTP is denied (403), over HTTPS allowed."""
    from moto.server import create_backend_app
    from werkzeug.test import Client

    client = Client(DomainDispatcherApplication(create_backend_app))
    auth = {"Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=x"}
    policy = {"Version": "2012-10-17", "Statement": [{
        "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": ["arn:aws:s3:::tls-only", "arn:aws:s3:::tls-only/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}
    base = {"base_url": "https://127.0.0.1", "headers": auth}
    assert client.put("/tls-only", **base).status_code == 200
    assert client.put("/tls-only?policy", data=json.dumps(policy), **base).status_code in (200, 204)
    https = client.put("/tls-only/obj", data=b"x", **base).status_code
    http = client.put("/tls-only/obj", data=b"x", base_url="http://127.0.0.1", headers=auth).status_code
    assert (https, http) == (200, 403), f"PUT over HTTPS -> {https}, over HTTP -> {http}; expected 200, 403"
    print("moto_tls self-test: TLS-only bucket policy: PUT over HTTPS 200, over HTTP 403")


if __name__ == "__main__":
    if sys.argv[1:] == ["--self-test"]:
        self_test()
    else:
        from moto.server import main
        sys.argv[0] = "moto_server"
        sys.exit(main())
