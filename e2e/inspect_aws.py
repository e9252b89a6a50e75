"""What the e2e test's local AWS holds, read from outside the engine with boto3 (the test compares it with the plan).

    python inspect_aws.py ENDPOINT CA_BUNDLE deployed '{"function": ..., "bucket": ..., ...}'   -> JSON facts
    python inspect_aws.py ENDPOINT CA_BUNDLE inventory                                          -> JSON of all left

Facts only, no judgement: the assertions live in e2e/deploy.e2e.ts. Every call that the emulator does not
implement is reported as {"error": "..."} in place of its value, never silently dropped.
"""
from __future__ import annotations

import hashlib
import json
import sys

import boto3
from botocore.config import Config


def clients(endpoint: str, ca: str):
    cfg = Config(region_name="us-east-1", retries={"max_attempts": 1}, s3={"addressing_style": "path"})
    def make(name: str):
        return boto3.client(name, endpoint_url=endpoint, verify=ca, config=cfg,
                            aws_access_key_id="testing", aws_secret_access_key="testing")
    return make


def attempt(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except Exception as e:  # noqa: BLE001 - reported, the test decides
        return {"error": f"{type(e).__name__}: {e}"}


def strip(resp):
    if isinstance(resp, dict):
        resp.pop("ResponseMetadata", None)
    return resp


def sha256_of_object(s3, bucket: str, key: str) -> dict:
    h = hashlib.sha256()
    size = 0
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    for chunk in iter(lambda: body.read(1 << 20), b""):
        h.update(chunk)
        size += len(chunk)
    return {"sha256_hex": h.hexdigest(), "bytes": size}


def download(s3, bucket: str, key: str, dest: str) -> dict:
    s3.download_file(bucket, key, dest)
    return {"path": dest}


def deployed(make, want: dict) -> dict:
    lam, s3, iam, logs = make("lambda"), make("s3"), make("iam"), make("logs")
    fn = want["function"]
    out: dict = {}
    out["configuration"] = strip(attempt(lam.get_function_configuration, FunctionName=fn))
    got = strip(attempt(lam.get_function, FunctionName=fn))
    out["concurrency"] = got.get("Concurrency") if isinstance(got, dict) else got
    out["alias"] = strip(attempt(lam.get_alias, FunctionName=fn, Name=want["alias"]))
    out["versions"] = [v["Version"] for v in lam.list_versions_by_function(FunctionName=fn)["Versions"]]
    out["layers"] = {}
    for arn in want.get("layers", []):
        # GetLayerVersion by name and number: moto 5.2.5 has no route for GetLayerVersionByArn (500).
        name, number = arn.split(":")[-2:]
        out["layers"][arn] = strip(attempt(lam.get_layer_version, LayerName=name, VersionNumber=int(number)))
    out["provisioned"] = strip(attempt(lam.list_provisioned_concurrency_configs, FunctionName=fn))
    bucket = want["bucket"]
    out["objects"] = {}
    for key in want.get("objects", []):
        head = strip(attempt(s3.head_object, Bucket=bucket, Key=key, ChecksumMode="ENABLED"))
        # GetObjectAttributes also says whether the checksum is of the whole object or COMPOSITE (multipart).
        attrs = strip(attempt(s3.get_object_attributes, Bucket=bucket, Key=key, ObjectAttributes=["Checksum", "ObjectSize"]))
        out["objects"][key] = {"head": head, "attributes": attrs, "content": attempt(sha256_of_object, s3, bucket, key)}
    out["downloads"] = {}
    for key, dest in want.get("download", {}).items():
        out["downloads"][key] = attempt(download, s3, bucket, key, dest)
    out["bucket"] = {
        "versioning": strip(attempt(s3.get_bucket_versioning, Bucket=bucket)),
        "encryption": strip(attempt(s3.get_bucket_encryption, Bucket=bucket)),
        "public_access_block": strip(attempt(s3.get_public_access_block, Bucket=bucket)),
        "ownership": strip(attempt(s3.get_bucket_ownership_controls, Bucket=bucket)),
        "policy": strip(attempt(s3.get_bucket_policy, Bucket=bucket)),
    }
    role = want["role"]
    out["role"] = strip(attempt(iam.get_role, RoleName=role))
    out["role_policies"] = {}
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        out["role_policies"][name] = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
    out["attached_policies"] = iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
    groups = logs.describe_log_groups(logGroupNamePrefix=want["log_group"])["logGroups"]
    out["log_groups"] = [{"name": g["logGroupName"], "retentionInDays": g.get("retentionInDays")} for g in groups]
    return out


def inventory(make) -> dict:
    """Everything the account holds of the kinds MlLambda creates (after destroy: only what retainData keeps)."""
    lam, s3, iam, logs, cw, aas = make("lambda"), make("s3"), make("iam"), make("logs"), make("cloudwatch"), make("application-autoscaling")
    out: dict = {}
    out["functions"] = [f["FunctionName"] for f in lam.list_functions()["Functions"]]
    out["layers"] = [{"name": layer["LayerName"], "versions": [v["Version"] for v in lam.list_layer_versions(LayerName=layer["LayerName"])["LayerVersions"]]}
                     for layer in lam.list_layers()["Layers"]]
    out["buckets"] = {}
    for b in s3.list_buckets()["Buckets"]:
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=b["Name"]).get("Contents", [])]
        out["buckets"][b["Name"]] = sorted(keys)
    out["roles"] = [r["RoleName"] for r in iam.list_roles()["Roles"]]
    out["log_groups"] = [g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]]
    out["alarms"] = attempt(lambda: [a["AlarmName"] for a in cw.describe_alarms()["MetricAlarms"]])
    out["scalable_targets"] = attempt(lambda: [t["ResourceId"] for t in aas.describe_scalable_targets(ServiceNamespace="lambda")["ScalableTargets"]])
    out["query_definitions"] = attempt(lambda: [q["name"] for q in logs.describe_query_definitions()["queryDefinitions"]])
    return out


def main() -> None:
    endpoint, ca, what = sys.argv[1], sys.argv[2], sys.argv[3]
    make = clients(endpoint, ca)
    result = deployed(make, json.loads(sys.argv[4])) if what == "deployed" else inventory(make)
    json.dump(result, sys.stdout, default=str)


if __name__ == "__main__":
    main()
