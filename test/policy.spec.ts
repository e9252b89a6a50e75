/**
 * Every policy of the pack against hand-built ResourceValidationArgs / StackValidationArgs (pulumi-policy-aws
 * style): a happy path per resource kind, and violations built by changing one field.
 */
import * as assert from "assert";
import * as aws from "@pulumi/aws";
import { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import * as limits from "../components/limits";
import { TAG_UNZIPPED_BYTES } from "../components/identity";
import * as P from "../policy/policies";
import { leastPrivilegeProblems, modelShippedWithFunction } from "../policy/security";
import {
    ACCOUNT,
    assertNoViolations,
    assertNotApplicable,
    assertViolation,
    BUCKET,
    changed,
    doc,
    FN_NAME,
    getHappyPathBucketStack,
    getHappyPathConcurrencyStack,
    getHappyPathFunctionStack,
    getHappyPathFunctionUrl,
    getHappyPathImageFunction,
    getHappyPathLogGroup,
    getHappyPathRepository,
    getHappyPathSnapStartFunction,
    getHappyPathZipFunction,
    LOG_GROUP,
    MODEL_KEY,
    resourceArgs,
    ROLE_NAME,
    runResourcePolicy,
    runStackPolicy,
    stackArgs,
    StackEntry,
    UNKNOWN,
    without,
} from "./policy-helpers";

const fnArgs = (props: Record<string, any>, config?: Record<string, unknown>) => resourceArgs(aws.lambda.Function, props, { config });
const zip = (change: Record<string, any> = {}) => ({ ...getHappyPathZipFunction(), ...change });
const image = (change: Record<string, any> = {}) => ({ ...getHappyPathImageFunction(), ...change });
const runFn = (policy: ResourceValidationPolicy, props: Record<string, any>, config?: Record<string, unknown>) => runResourcePolicy(policy, fnArgs(props, config));
const runStack = (policy: StackValidationPolicy, entries: StackEntry[], config?: Record<string, unknown>) => runStackPolicy(policy, stackArgs(entries, config));

describe("policy pack: metadata", () => {
    const exported = Object.values(P).filter((v): v is ResourceValidationPolicy | StackValidationPolicy => !!v && typeof v === "object" && "name" in v && "description" in v);

    it("lists every exported policy exactly once in mlLambdaPolicies", () => {
        assert.strictEqual(exported.length, P.mlLambdaPolicies.length);
        for (const p of exported) assert.ok(P.mlLambdaPolicies.includes(p), `${p.name} is exported but not in the pack`);
        assert.strictEqual(new Set(P.mlLambdaPolicies.map((p) => p.name)).size, P.mlLambdaPolicies.length, "names are unique");
        assert.ok(P.mlLambdaPolicies.length >= 20);
    });

    for (const p of P.mlLambdaPolicies) {
        it(`${p.name}: kebab-case name, "Checks whether" description, a level, a schema with defaults`, () => {
            assert.match(p.name, /^[a-z0-9]+(-[a-z0-9]+)+$/);
            assert.notStrictEqual(p.name, "all");
            assert.match(p.description, /^Checks whether /);
            assert.ok(p.enforcementLevel === "mandatory" || p.enforcementLevel === "advisory", `${p.enforcementLevel}`);
            const props = p.configSchema?.properties ?? {};
            assert.ok(Object.keys(props).length > 0, "has a config schema");
            assert.ok(!("enforcementLevel" in props), "enforcementLevel is reserved");
            for (const [k, s] of Object.entries(props)) assert.ok(typeof s === "object" && s.default !== undefined, `${k} has a default`);
            const isStack = "validateStack" in p;
            const isResource = "validateResource" in p;
            assert.ok(isStack !== isResource);
        });
    }

    it("takes its limits from components/limits.ts", async () => {
        assertViolation(await runFn(P.lambdaMemoryWithinLimits, zip({ memorySize: limits.MEMORY_MAX_MB + 1 })), "outside");
        assertNoViolations(await runFn(P.lambdaMemoryWithinLimits, zip({ memorySize: limits.MEMORY_MAX_MB })));
        assertViolation(await runFn(P.lambdaTimeoutWithinLimits, zip({ timeout: limits.TIMEOUT_MAX_S + 1 })), "outside");
        const over = String(limits.UNZIPPED_LIMIT_BYTES + 1);
        assertViolation(await runFn(P.lambdaUnzippedSizeWithinLimit, zip({ tags: { [TAG_UNZIPPED_BYTES]: over } })), "262,144,001");
    });
});

describe("policy pack: function sizing", () => {
    describe("lambda-memory-within-limits", () => {
        it("passes the happy path (zip and image)", async () => {
            assertNoViolations(await runFn(P.lambdaMemoryWithinLimits, zip()));
            assertNoViolations(await runFn(P.lambdaMemoryWithinLimits, image()));
        });
        it("refuses memory below 128 MB", async () => assertViolation(await runFn(P.lambdaMemoryWithinLimits, zip({ memorySize: 64 })), "memorySize 64 MB is outside Lambda's 128-10,240 MB range"));
        it("refuses memory above 10,240 MB", async () => assertViolation(await runFn(P.lambdaMemoryWithinLimits, zip({ memorySize: 20480 })), "memorySize 20480 MB"));
        it("accepts an unset memorySize (Lambda's 128 MB default)", async () => assertNoViolations(await runFn(P.lambdaMemoryWithinLimits, zip({ memorySize: undefined }))));
        it("skips a resource listed in exclude", async () => {
            assertNotApplicable(await runFn(P.lambdaMemoryWithinLimits, zip({ memorySize: 64 }), { exclude: ["embeddings"] }), "excluded");
        });
        it("is not applicable to other resource types", async () => {
            assertNotApplicable(await runResourcePolicy(P.lambdaMemoryWithinLimits, resourceArgs(aws.cloudwatch.LogGroup, getHappyPathLogGroup())), "aws:lambda/function:Function");
        });
    });

    describe("ml-lambda-memory-minimum", () => {
        it("passes the happy path (1,769 MB)", async () => assertNoViolations(await runFn(P.mlLambdaMemoryMinimum, zip())));
        it("flags 512 MB against the default 1,024 MB minimum", async () => assertViolation(await runFn(P.mlLambdaMemoryMinimum, zip({ memorySize: 512 })), "below the ML minimum of 1,024 MB"));
        it("flags an unset memorySize (128 MB)", async () => assertViolation(await runFn(P.mlLambdaMemoryMinimum, zip({ memorySize: undefined })), "memorySize 128 MB"));
        it("follows minMemoryMb from the config: 512 for a small model, 3,008 for a medium one", async () => {
            assertNoViolations(await runFn(P.mlLambdaMemoryMinimum, zip({ memorySize: 512 }), { minMemoryMb: 512 }));
            assertViolation(await runFn(P.mlLambdaMemoryMinimum, zip(), { minMemoryMb: 3008 }), "below the ML minimum of 3,008 MB");
        });
    });

    describe("lambda-timeout-within-limits", () => {
        it("passes the happy path", async () => assertNoViolations(await runFn(P.lambdaTimeoutWithinLimits, zip())));
        it("refuses a timeout above 900 s", async () => assertViolation(await runFn(P.lambdaTimeoutWithinLimits, zip({ timeout: 901 })), "timeout 901 s is outside Lambda's 1-900 s range"));
        it("refuses 0 s", async () => assertViolation(await runFn(P.lambdaTimeoutWithinLimits, zip({ timeout: 0 })), "timeout 0 s"));
    });

    describe("ml-lambda-timeout-cold-load", () => {
        it("passes the happy path (60 s)", async () => assertNoViolations(await runFn(P.mlLambdaTimeoutColdLoad, zip())));
        it("flags 10 s against the default 30 s", async () => assertViolation(await runFn(P.mlLambdaTimeoutColdLoad, zip({ timeout: 10 })), "shorter than the 30 s"));
        it("flags an unset timeout (Lambda's 3 s)", async () => assertViolation(await runFn(P.mlLambdaTimeoutColdLoad, zip({ timeout: undefined })), "timeout 3 s"));
        it("follows minTimeoutSeconds from the config", async () => {
            assertNoViolations(await runFn(P.mlLambdaTimeoutColdLoad, zip({ timeout: 10 }), { minTimeoutSeconds: 5 }));
            assertViolation(await runFn(P.mlLambdaTimeoutColdLoad, zip(), { minTimeoutSeconds: 120 }), "shorter than the 120 s");
        });
    });
});

describe("policy pack: runtime", () => {
    describe("lambda-runtime-not-deprecated", () => {
        it("passes python3.12, 3.13 and 3.14", async () => {
            for (const runtime of ["python3.12", "python3.13", "python3.14"]) assertNoViolations(await runFn(P.lambdaRuntimeNotDeprecated, zip({ runtime })));
        });
        it("refuses python3.10 and python3.9 (limits.DEPRECATED_RUNTIMES)", async () => {
            assertViolation(await runFn(P.lambdaRuntimeNotDeprecated, zip({ runtime: "python3.10" })), "runtime python3.10 is deprecated since 2026-10-31");
            assertViolation(await runFn(P.lambdaRuntimeNotDeprecated, zip({ runtime: "python3.9" })), "python3.9 is deprecated");
        });
        it("refuses runtimes older than limits.ts knows (python3.8)", async () => assertViolation(await runFn(P.lambdaRuntimeNotDeprecated, zip({ runtime: "python3.8" })), "python3.8 is deprecated"));
        it("accepts python3.11 until its deprecation date, refuses it after", async () => {
            assertNoViolations(await runFn(P.lambdaRuntimeNotDeprecated, zip({ runtime: "python3.11" }), { asOf: "2027-06-29" }));
            assertViolation(await runFn(P.lambdaRuntimeNotDeprecated, zip({ runtime: "python3.11" }), { asOf: "2027-06-30" }), "deprecated since 2027-06-30");
        });
        it("is not applicable to image functions or non-Python runtimes", async () => {
            assertNotApplicable(await runFn(P.lambdaRuntimeNotDeprecated, image()), "runtime in the image");
            assertNotApplicable(await runFn(P.lambdaRuntimeNotDeprecated, zip({ runtime: "nodejs22.x" })), "Python runtimes only");
        });
    });

    describe("lambda-runtime-deprecation-approaching", () => {
        it("passes python3.12", async () => assertNoViolations(await runFn(P.lambdaRuntimeDeprecationApproaching, zip())));
        it("warns about python3.11 (2027-06-30)", async () => {
            assertViolation(await runFn(P.lambdaRuntimeDeprecationApproaching, zip({ runtime: "python3.11" }), { asOf: "2026-11-27" }), "python3.11 is deprecated on 2027-06-30");
        });
        it("stops warning once the date has passed (lambda-runtime-not-deprecated refuses it then)", async () => {
            assertNoViolations(await runFn(P.lambdaRuntimeDeprecationApproaching, zip({ runtime: "python3.11" }), { asOf: "2027-07-01" }));
        });
    });
});

describe("policy pack: SnapStart", () => {
    describe("lambda-snapstart-compatible", () => {
        it("passes SnapStart on python3.12 with published versions and 512 MB /tmp", async () => assertNoViolations(await runFn(P.lambdaSnapStartCompatible, getHappyPathSnapStartFunction())));
        it("is not applicable without SnapStart", async () => assertNotApplicable(await runFn(P.lambdaSnapStartCompatible, zip()), "SnapStart is off"));
        it("refuses SnapStart on python3.11", async () => {
            assertViolation(await runFn(P.lambdaSnapStartCompatible, { ...getHappyPathSnapStartFunction(), runtime: "python3.11" }), "SnapStart needs python3.12 or newer; runtime is python3.11");
        });
        it("refuses SnapStart with /tmp above 512 MB", async () => {
            assertViolation(await runFn(P.lambdaSnapStartCompatible, { ...getHappyPathSnapStartFunction(), ephemeralStorage: { size: 1024 } }), "ephemeral storage above 512 MB");
        });
        it("refuses SnapStart with EFS", async () => {
            assertViolation(await runFn(P.lambdaSnapStartCompatible, { ...getHappyPathSnapStartFunction(), fileSystemConfig: { arn: "arn:aws:elasticfilesystem:ap", localMountPath: "/mnt/m" } }), "EFS");
        });
        it("refuses SnapStart without published versions", async () => {
            assertViolation(await runFn(P.lambdaSnapStartCompatible, { ...getHappyPathSnapStartFunction(), publish: false }), "only applies to published versions");
        });
        it("accepts SnapStart on an image function (runtime not visible; /tmp still checked)", async () => {
            assertNoViolations(await runFn(P.lambdaSnapStartCompatible, image({ snapStart: { applyOn: "PublishedVersions" } })));
            assertViolation(await runFn(P.lambdaSnapStartCompatible, image({ snapStart: { applyOn: "PublishedVersions" }, ephemeralStorage: { size: 2048 } })), "ephemeral storage");
        });
    });

    describe("lambda-snapstart-without-provisioned-concurrency", () => {
        const snapStack = (): StackEntry[] => [
            { cls: aws.lambda.Function, name: "embeddings", props: getHappyPathSnapStartFunction() },
            { cls: aws.lambda.Alias, name: "embeddings-live", props: { name: "live", functionName: FN_NAME, functionVersion: "1" } },
        ];
        const staticPc = (functionName: string): StackEntry => ({
            cls: aws.lambda.ProvisionedConcurrencyConfig,
            name: "embeddings-provisioned",
            props: { functionName, qualifier: "live", provisionedConcurrentExecutions: 2 },
        });

        it("passes SnapStart without provisioned concurrency", async () => assertNoViolations(await runStack(P.lambdaSnapStartWithoutProvisionedConcurrency, snapStack())));
        it("passes provisioned concurrency without SnapStart (the prod shape)", async () => {
            assertNoViolations(await runStack(P.lambdaSnapStartWithoutProvisionedConcurrency, getHappyPathConcurrencyStack()));
        });
        it("refuses a ProvisionedConcurrencyConfig on a SnapStart function (by name)", async () => {
            assertViolation(await runStack(P.lambdaSnapStartWithoutProvisionedConcurrency, [...snapStack(), staticPc(FN_NAME)]), "has SnapStart and provisioned concurrency", "embeddings");
        });
        it("refuses one that names the function by ARN", async () => {
            const arn = `arn:aws:lambda:us-east-1:${ACCOUNT}:function:${FN_NAME}`;
            assertViolation(await runStack(P.lambdaSnapStartWithoutProvisionedConcurrency, [...snapStack(), staticPc(arn)]), "provisioned concurrency");
        });
        it("refuses an Application Auto Scaling target on a SnapStart function", async () => {
            const entries = changed(getHappyPathConcurrencyStack(), "embeddings", (p) => ({ ...p, snapStart: { applyOn: "PublishedVersions" } }));
            assertViolation(await runStack(P.lambdaSnapStartWithoutProvisionedConcurrency, entries), "auto-scaled provisioned concurrency (Target \"embeddings-pc-target\")");
        });
        it("relates through property dependencies when the function name is unknown in preview", async () => {
            const entries: StackEntry[] = [...snapStack(), { ...staticPc(UNKNOWN), deps: { functionName: ["embeddings"] } }];
            assertViolation(await runStack(P.lambdaSnapStartWithoutProvisionedConcurrency, entries), "provisioned concurrency");
        });
        it("says it cannot decide when the reference is unknown and has no dependencies", async () => {
            assertNotApplicable(await runStack(P.lambdaSnapStartWithoutProvisionedConcurrency, [...snapStack(), staticPc(UNKNOWN)]), "cannot be decided before apply");
        });
        it("ignores provisioned concurrency of a function outside the stack", async () => {
            assertNoViolations(await runStack(P.lambdaSnapStartWithoutProvisionedConcurrency, [...snapStack(), staticPc("someone-else")]));
        });
        it("is not applicable without functions", async () => assertNotApplicable(await runStack(P.lambdaSnapStartWithoutProvisionedConcurrency, getHappyPathBucketStack()), "no Lambda functions"));
    });
});

describe("policy pack: packaging", () => {
    describe("lambda-max-layers", () => {
        it("passes one layer, and an image without layers", async () => {
            assertNoViolations(await runFn(P.lambdaMaxLayers, zip()));
            assertNoViolations(await runFn(P.lambdaMaxLayers, image()));
        });
        it("refuses 6 layers", async () => {
            const layers = Array.from({ length: 6 }, (_, i) => `arn:aws:lambda:us-east-1:${ACCOUNT}:layer:l${i}:1`);
            assertViolation(await runFn(P.lambdaMaxLayers, zip({ layers })), "6 layers exceed the limit of 5");
        });
        it("refuses layers on an image function", async () => assertViolation(await runFn(P.lambdaMaxLayers, image({ layers: ["arn:x"] })), "container image functions cannot use layers"));
        it("follows maxLayers from the config", async () => assertViolation(await runFn(P.lambdaMaxLayers, zip({ layers: ["a", "b"] }), { maxLayers: 1 }), "2 layers exceed the limit of 1"));
        it("counts layers whose ARNs are unknown in preview", async () => assertViolation(await runFn(P.lambdaMaxLayers, zip({ layers: Array(6).fill(UNKNOWN) })), "6 layers"));
    });

    describe("lambda-unzipped-size-within-limit", () => {
        it("passes 138 MB measured (onnx profile)", async () => assertNoViolations(await runFn(P.lambdaUnzippedSizeWithinLimit, zip())));
        it("passes exactly the limit", async () => assertNoViolations(await runFn(P.lambdaUnzippedSizeWithinLimit, zip({ tags: { [TAG_UNZIPPED_BYTES]: "262144000" } }))));
        it("refuses one byte over 262,144,000", async () => {
            assertViolation(await runFn(P.lambdaUnzippedSizeWithinLimit, zip({ tags: { [TAG_UNZIPPED_BYTES]: "262144001" } })), "262,144,001 bytes unzipped, over the 262,144,000-byte limit");
        });
        it("refuses a tag that is not a byte count", async () => assertViolation(await runFn(P.lambdaUnzippedSizeWithinLimit, zip({ tags: { [TAG_UNZIPPED_BYTES]: "12 MB" } })), "not a byte count"));
        it("is not applicable without the tag, unless requireMeasurement", async () => {
            assertNotApplicable(await runFn(P.lambdaUnzippedSizeWithinLimit, zip({ tags: {} })), "not measured by MlLambda");
            assertViolation(await runFn(P.lambdaUnzippedSizeWithinLimit, zip({ tags: {} }), { requireMeasurement: true }), "was not measured");
        });
        it("follows maxUnzippedBytes from the config (headroom)", async () => {
            assertViolation(await runFn(P.lambdaUnzippedSizeWithinLimit, zip(), { maxUnzippedBytes: 100_000_000 }), "over the 100,000,000-byte limit");
        });
        it("is not applicable to image functions", async () => assertNotApplicable(await runFn(P.lambdaUnzippedSizeWithinLimit, image()), "image size"));
    });

    describe("lambda-image-pinned-by-digest", () => {
        it("passes repo@sha256:<digest>", async () => assertNoViolations(await runFn(P.lambdaImagePinnedByDigest, image())));
        it("refuses a tag", async () => {
            assertViolation(await runFn(P.lambdaImagePinnedByDigest, image({ imageUri: `${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/${FN_NAME}:latest` })), "is not pinned by digest");
        });
        it("refuses a truncated digest", async () => assertViolation(await runFn(P.lambdaImagePinnedByDigest, image({ imageUri: `repo@sha256:abc` })), "not pinned"));
        it("is not applicable in preview while the digest is unknown", async () => {
            assertNotApplicable(await runFn(P.lambdaImagePinnedByDigest, image({ imageUri: UNKNOWN })), "unknown in preview");
        });
        it("is not applicable to zip functions", async () => assertNotApplicable(await runFn(P.lambdaImagePinnedByDigest, zip()), "zip function"));
    });

    describe("ecr-scan-on-push", () => {
        const repo = (change: Record<string, any> = {}) => resourceArgs(aws.ecr.Repository, { ...getHappyPathRepository(), ...change }, { name: "embeddings-repo" });
        it("passes the happy path", async () => assertNoViolations(await runResourcePolicy(P.ecrScanOnPush, repo())));
        it("refuses scanOnPush false", async () => assertViolation(await runResourcePolicy(P.ecrScanOnPush, repo({ imageScanningConfiguration: { scanOnPush: false } })), "does not scan images on push"));
        it("refuses a missing scanning configuration", async () => assertViolation(await runResourcePolicy(P.ecrScanOnPush, repo({ imageScanningConfiguration: undefined })), "scanOnPush: true"));
    });

    describe("ecr-immutable-tags", () => {
        const repo = (change: Record<string, any> = {}, config?: Record<string, unknown>) => resourceArgs(aws.ecr.Repository, { ...getHappyPathRepository(), ...change }, { config });
        it("passes IMMUTABLE", async () => assertNoViolations(await runResourcePolicy(P.ecrImmutableTags, repo())));
        it("refuses MUTABLE", async () => assertViolation(await runResourcePolicy(P.ecrImmutableTags, repo({ imageTagMutability: "MUTABLE" })), "imageTagMutability is MUTABLE"));
        it("refuses the default (unset = MUTABLE)", async () => assertViolation(await runResourcePolicy(P.ecrImmutableTags, repo({ imageTagMutability: undefined })), "MUTABLE"));
        it("accepts IMMUTABLE_WITH_EXCLUSION only when allowExclusions", async () => {
            assertViolation(await runResourcePolicy(P.ecrImmutableTags, repo({ imageTagMutability: "IMMUTABLE_WITH_EXCLUSION" })), "IMMUTABLE_WITH_EXCLUSION");
            assertNoViolations(await runResourcePolicy(P.ecrImmutableTags, repo({ imageTagMutability: "IMMUTABLE_WITH_EXCLUSION" }, { allowExclusions: true })));
        });
    });
});

describe("policy pack: model bucket", () => {
    const bucketSettingInPreview = (entries: StackEntry[]): StackEntry[] =>
        // First preview: the bucket's id is unknown, every setting refers to it through a dependency only (and
        // the settings are renamed so no naming heuristic could relate them).
        entries.map((e) => (e.name === "embeddings-models"
            ? { ...e, props: { id: UNKNOWN, bucket: UNKNOWN, arn: UNKNOWN } }
            : { ...e, name: e.name.replace("embeddings-models-", "setting-"), props: { ...e.props, bucket: UNKNOWN }, deps: { bucket: ["embeddings-models"] } }));

    describe("model-bucket-encrypted", () => {
        it("passes the happy path", async () => assertNoViolations(await runStack(P.modelBucketEncrypted, getHappyPathBucketStack())));
        it("refuses a bucket without an encryption configuration", async () => {
            assertViolation(await runStack(P.modelBucketEncrypted, without(getHappyPathBucketStack(), "embeddings-models-sse")), 'Bucket "embeddings-models" has no default encryption', "embeddings-models");
        });
        it("refuses when the configuration belongs to another bucket", async () => {
            const entries = changed(getHappyPathBucketStack(), "embeddings-models-sse", (p) => ({ ...p, bucket: "someone-elses-bucket" }));
            assertViolation(await runStack(P.modelBucketEncrypted, entries), "no default encryption");
        });
        it("refuses AES256 when requireKms", async () => assertViolation(await runStack(P.modelBucketEncrypted, getHappyPathBucketStack(), { requireKms: true }), "found AES256"));
        it("accepts the deprecated inline configuration on the bucket", async () => {
            const entries = changed(without(getHappyPathBucketStack(), "embeddings-models-sse"), "embeddings-models", (p) => ({ ...p, serverSideEncryptionConfiguration: { rule: { applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms" } } } }));
            assertNoViolations(await runStack(P.modelBucketEncrypted, entries));
        });
        it("relates settings to the bucket through property dependencies in preview", async () => {
            assertNoViolations(await runStack(P.modelBucketEncrypted, bucketSettingInPreview(getHappyPathBucketStack())));
            const noSse = bucketSettingInPreview(without(getHappyPathBucketStack(), "embeddings-models-sse"));
            assertViolation(await runStack(P.modelBucketEncrypted, noSse), "no default encryption");
        });
        it("relates by name when the offline plan records inputs only (no ids)", async () => {
            const entries = getHappyPathBucketStack().map((e) => (e.name === "embeddings-models" ? { ...e, props: { forceDestroy: false } } : e));
            assertNoViolations(await runStack(P.modelBucketEncrypted, entries));
        });
        it("is not applicable without buckets (an existing modelBucket)", async () => assertNotApplicable(await runStack(P.modelBucketEncrypted, getHappyPathFunctionStack()), "no S3 buckets"));
    });

    describe("model-bucket-versioned", () => {
        it("passes the happy path", async () => assertNoViolations(await runStack(P.modelBucketVersioned, getHappyPathBucketStack())));
        it("refuses Suspended", async () => {
            const entries = changed(getHappyPathBucketStack(), "embeddings-models-versioning", (p) => ({ ...p, versioningConfiguration: { status: "Suspended" } }));
            assertViolation(await runStack(P.modelBucketVersioned, entries), "is not versioned (status Suspended)", "embeddings-models");
        });
        it("refuses a bucket without BucketVersioning", async () => assertViolation(await runStack(P.modelBucketVersioned, without(getHappyPathBucketStack(), "embeddings-models-versioning")), "is not versioned"));
        it("says it cannot decide when the setting cannot be related before apply", async () => {
            const entries = changed(without(getHappyPathBucketStack(), "embeddings-models-versioning"), "embeddings-models", () => ({ id: UNKNOWN }));
            entries.push({ cls: aws.s3.BucketVersioning, name: "versioning", props: { bucket: UNKNOWN, versioningConfiguration: { status: "Enabled" } } });
            assertNotApplicable(await runStack(P.modelBucketVersioned, entries), "cannot be decided before apply");
        });
    });

    describe("model-bucket-public-access-blocked", () => {
        it("passes the happy path", async () => assertNoViolations(await runStack(P.modelBucketPublicAccessBlocked, getHappyPathBucketStack())));
        it("refuses restrictPublicBuckets false, naming the flag", async () => {
            const entries = changed(getHappyPathBucketStack(), "embeddings-models-pab", (p) => ({ ...p, restrictPublicBuckets: false }));
            assertViolation(await runStack(P.modelBucketPublicAccessBlocked, entries), "restrictPublicBuckets must be true");
        });
        it("refuses a bucket without a public access block", async () => {
            assertViolation(await runStack(P.modelBucketPublicAccessBlocked, without(getHappyPathBucketStack(), "embeddings-models-pab")), "has no public access block");
        });
        it("refuses a public canned ACL", async () => {
            const entries = changed(getHappyPathBucketStack(), "embeddings-models", (p) => ({ ...p, acl: "public-read" }));
            assertViolation(await runStack(P.modelBucketPublicAccessBlocked, entries), 'canned ACL "public-read"');
        });
        it("accepts an account-level block in the stack (unless configured not to)", async () => {
            const entries: StackEntry[] = [
                ...without(getHappyPathBucketStack(), "embeddings-models-pab"),
                { cls: aws.s3.AccountPublicAccessBlock, name: "account", props: { blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true } },
            ];
            assertNoViolations(await runStack(P.modelBucketPublicAccessBlocked, entries));
            assertViolation(await runStack(P.modelBucketPublicAccessBlocked, entries, { acceptAccountLevelBlock: false }), "no public access block");
        });
    });

    describe("model-bucket-tls-only", () => {
        it("passes the happy path", async () => assertNoViolations(await runStack(P.modelBucketTlsOnly, getHappyPathBucketStack())));
        it("refuses a bucket policy without the aws:SecureTransport condition", async () => {
            const entries = changed(getHappyPathBucketStack(), "embeddings-models-tls-only", (p) => {
                const d = JSON.parse(p.policy);
                delete d.Statement[0].Condition;
                return { ...p, policy: JSON.stringify(d) };
            });
            assertViolation(await runStack(P.modelBucketTlsOnly, entries), "accepts plain-HTTP requests");
        });
        it("refuses a bucket without a bucket policy", async () => assertViolation(await runStack(P.modelBucketTlsOnly, without(getHappyPathBucketStack(), "embeddings-models-tls-only")), "plain-HTTP"));
        it("says it cannot decide in preview while the policy document is unknown", async () => {
            const entries = bucketSettingInPreview(changed(getHappyPathBucketStack(), "embeddings-models-tls-only", (p) => ({ ...p, policy: UNKNOWN })));
            assertNotApplicable(await runStack(P.modelBucketTlsOnly, entries), 'BucketPolicy "setting-tls-only".policy');
        });
    });
});

describe("policy pack: least privilege", () => {
    const withRolePolicy = (name: string, policy: string, role = ROLE_NAME): StackEntry[] => [...getHappyPathFunctionStack(), { cls: aws.iam.RolePolicy, name, props: { role, policy } }];

    it("passes the component's role (own log group, one model object)", async () => assertNoViolations(await runStack(P.lambdaRoleLeastPrivilege, getHappyPathFunctionStack())));
    it('refuses "s3:*"', async () => {
        assertViolation(await runStack(P.lambdaRoleLeastPrivilege, withRolePolicy("extra", doc({ Effect: "Allow", Action: "s3:*", Resource: `arn:aws:s3:::${BUCKET}/${"x"}` }))), 'action "s3:*" is a wildcard', "extra");
    });
    it('refuses "*"', async () => assertViolation(await runStack(P.lambdaRoleLeastPrivilege, withRolePolicy("admin", doc({ Effect: "Allow", Action: "*", Resource: "*" }))), 'action "*" is a wildcard'));
    it("refuses a read of every object of the bucket (one field changed: the model read's Resource)", async () => {
        const entries = changed(getHappyPathFunctionStack(), "embeddings-model-read", (p) => ({ ...p, policy: doc({ Effect: "Allow", Action: "s3:GetObject", Resource: `arn:aws:s3:::${BUCKET}/*` }) }), aws.iam.RolePolicy);
        assertViolation(await runStack(P.lambdaRoleLeastPrivilege, entries), `S3 read on "arn:aws:s3:::${BUCKET}/*" reaches every object`, "embeddings-model-read");
    });
    it("refuses reads of every bucket, and of every key matching a pattern", async () => {
        assertViolation(await runStack(P.lambdaRoleLeastPrivilege, withRolePolicy("all", doc({ Effect: "Allow", Action: "s3:GetObject", Resource: "arn:aws:s3:::*" }))), "reaches every object");
        assertViolation(await runStack(P.lambdaRoleLeastPrivilege, withRolePolicy("tgz", doc({ Effect: "Allow", Action: "s3:GetObject", Resource: `arn:aws:s3:::${BUCKET}/*.tar.gz` }))), "reaches every object");
    });
    it("accepts a read under a key prefix", async () => {
        assertNoViolations(await runStack(P.lambdaRoleLeastPrivilege, withRolePolicy("prefix", doc({ Effect: "Allow", Action: "s3:GetObject", Resource: `arn:aws:s3:::${BUCKET}/models/*` }))));
    });
    it("refuses Allow with NotAction", async () => assertViolation(await runStack(P.lambdaRoleLeastPrivilege, withRolePolicy("not", doc({ Effect: "Allow", NotAction: "iam:*", Resource: "*" }))), "NotAction"));
    it("refuses the AWS managed AmazonS3ReadOnlyAccess attached to the function role", async () => {
        const entries: StackEntry[] = [...getHappyPathFunctionStack(), { cls: aws.iam.RolePolicyAttachment, name: "s3-read", props: { role: ROLE_NAME, policyArn: "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess" } }];
        assertViolation(await runStack(P.lambdaRoleLeastPrivilege, entries), "AWS managed policy AmazonS3ReadOnlyAccess", "s3-read");
    });
    it("accepts AWSLambdaBasicExecutionRole", async () => {
        const entries: StackEntry[] = [...getHappyPathFunctionStack(), { cls: aws.iam.RolePolicyAttachment, name: "basic", props: { role: ROLE_NAME, policyArn: "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole" } }];
        assertNoViolations(await runStack(P.lambdaRoleLeastPrivilege, entries));
    });
    it("checks a customer managed policy attached to the function role", async () => {
        const policyArn = `arn:aws:iam::${ACCOUNT}:policy/wide`;
        const entries: StackEntry[] = [
            ...getHappyPathFunctionStack(),
            { cls: aws.iam.Policy, name: "wide", props: { arn: policyArn, policy: doc({ Effect: "Allow", Action: "dynamodb:*", Resource: "*" }) } },
            { cls: aws.iam.RolePolicyAttachment, name: "wide-attach", props: { role: ROLE_NAME, policyArn } },
        ];
        assertViolation(await runStack(P.lambdaRoleLeastPrivilege, entries), 'Policy "wide": action "dynamodb:*" is a wildcard');
    });
    it("refuses a wildcard in the role's inline policies", async () => {
        const entries = changed(getHappyPathFunctionStack(), "embeddings-role", (p) => ({ ...p, inlinePolicies: [{ name: "inline", policy: doc({ Effect: "Allow", Action: "logs:*", Resource: "*" }) }] }));
        assertViolation(await runStack(P.lambdaRoleLeastPrivilege, entries), 'inline policy "inline": action "logs:*" is a wildcard');
    });
    it("leaves roles that Lambda does not assume alone", async () => {
        const entries: StackEntry[] = [
            ...getHappyPathFunctionStack(),
            { cls: aws.iam.Role, name: "ci", props: { name: "ci", assumeRolePolicy: doc({ Effect: "Allow", Principal: { Service: "codebuild.amazonaws.com" }, Action: "sts:AssumeRole" }) } },
            { cls: aws.iam.RolePolicy, name: "ci-admin", props: { role: "ci", policy: doc({ Effect: "Allow", Action: "*", Resource: "*" }) } },
        ];
        assertNoViolations(await runStack(P.lambdaRoleLeastPrivilege, entries));
    });
    it("accepts wildcard actions listed in allowedWildcardActions", async () => {
        assertNoViolations(await runStack(P.lambdaRoleLeastPrivilege, withRolePolicy("xray", doc({ Effect: "Allow", Action: "xray:Put*", Resource: "*" })), { allowedWildcardActions: ["xray:Put*"] }));
    });
    it("says it cannot decide while a policy document is unknown (first preview)", async () => {
        const entries = changed(getHappyPathFunctionStack(), "embeddings-model-read", (p) => ({ ...p, policy: UNKNOWN }), aws.iam.RolePolicy);
        assertNotApplicable(await runStack(P.lambdaRoleLeastPrivilege, entries), 'RolePolicy "embeddings-model-read".policy');
    });
    describe("a function whose model ships with it (the zip path's model layer, or an image)", () => {
        const layerFn = () => ({ ...getHappyPathZipFunction(), layers: [...getHappyPathZipFunction().layers, `arn:aws:lambda:us-east-1:${ACCOUNT}:layer:${FN_NAME}-model:1`], environment: { variables: { MODEL_DIR: "/opt/ml/model", MODEL_BACKEND: "onnx" } } });
        it("passes the component's role for it: its own log group, no S3 read", async () => {
            assertNoViolations(await runStack(P.lambdaRoleLeastPrivilege, without(getHappyPathFunctionStack(layerFn()), "embeddings-model-read", aws.iam.RolePolicy)));
        });
        it("refuses any S3 object read on its role, however narrow (a leftover grant)", async () => {
            assertViolation(await runStack(P.lambdaRoleLeastPrivilege, getHappyPathFunctionStack(layerFn())),
                "S3 object read granted, but its model ships with it (MODEL_DIR=/opt/ml/model, no MODEL_BUCKET), so it reads no S3 object: remove the grant", "embeddings-model-read");
        });
        it("a function that fetches its model (MODEL_BUCKET) keeps its one-object read", async () => {
            const s3Fn = { ...getHappyPathZipFunction(), environment: { variables: { MODEL_BUCKET: BUCKET, MODEL_KEY, MODEL_SHA256: "a".repeat(64) } } };
            assertNoViolations(await runStack(P.lambdaRoleLeastPrivilege, getHappyPathFunctionStack(s3Fn)));
        });
        it("modelShippedWithFunction: MODEL_DIR without MODEL_BUCKET only", () => {
            assert.match(modelShippedWithFunction({ MODEL_DIR: "/opt/ml/model" }) ?? "", /MODEL_DIR=\/opt\/ml\/model/);
            assert.strictEqual(modelShippedWithFunction({ MODEL_DIR: "/opt/ml/model", MODEL_BUCKET: "b" }), undefined);
            assert.strictEqual(modelShippedWithFunction({}), undefined);
            assert.strictEqual(modelShippedWithFunction(undefined), undefined);
        });
    });
    it("leastPrivilegeProblems reads object documents too", () => {
        assert.deepStrictEqual(leastPrivilegeProblems({ Version: "2012-10-17", Statement: { Effect: "Allow", Action: "s3:GetObject", Resource: "*" } }), ['S3 read on "*" reaches every object, not the model archive']);
        assert.match(leastPrivilegeProblems("{not json")[0], /cannot be read/);
    });
});

describe("policy pack: logs", () => {
    describe("cloudwatch-log-group-retention", () => {
        const lg = (change: Record<string, any> = {}, config?: Record<string, unknown>) => resourceArgs(aws.cloudwatch.LogGroup, { ...getHappyPathLogGroup(), ...change }, { name: "embeddings-logs", config });
        it("passes 14 days", async () => assertNoViolations(await runResourcePolicy(P.cloudwatchLogGroupRetention, lg())));
        it("refuses no retention", async () => assertViolation(await runResourcePolicy(P.cloudwatchLogGroupRetention, lg({ retentionInDays: undefined })), "keeps logs forever"));
        it("refuses 0 (never expire)", async () => assertViolation(await runResourcePolicy(P.cloudwatchLogGroupRetention, lg({ retentionInDays: 0 })), "keeps logs forever"));
        it("refuses a value CloudWatch does not accept", async () => assertViolation(await runResourcePolicy(P.cloudwatchLogGroupRetention, lg({ retentionInDays: 10 })), "retentionInDays 10 is not a value CloudWatch accepts"));
        it("follows minRetentionDays (prod: 30)", async () => assertViolation(await runResourcePolicy(P.cloudwatchLogGroupRetention, lg({}, { minRetentionDays: 30 })), "outside this stack's 30-3653 day range"));
    });

    describe("lambda-log-group-managed", () => {
        it("passes the happy path", async () => assertNoViolations(await runStack(P.lambdaLogGroupManaged, getHappyPathFunctionStack())));
        it("flags a function whose log group is not in the stack", async () => {
            assertViolation(await runStack(P.lambdaLogGroupManaged, without(getHappyPathFunctionStack(), "embeddings-logs", aws.cloudwatch.LogGroup)), `logs to ${LOG_GROUP}, which this stack does not declare`, "embeddings");
        });
        it("uses /aws/lambda/<name> when loggingConfig names no group", async () => {
            const entries = changed(getHappyPathFunctionStack(), "embeddings", (p) => ({ ...p, loggingConfig: undefined }), aws.lambda.Function);
            assertNoViolations(await runStack(P.lambdaLogGroupManaged, entries));
            const renamed = changed(entries, "embeddings", (p) => ({ ...p, name: "other" }), aws.lambda.Function);
            assertViolation(await runStack(P.lambdaLogGroupManaged, renamed), "/aws/lambda/other");
        });
        it("accepts log groups listed in externalLogGroups", async () => {
            assertNoViolations(await runStack(P.lambdaLogGroupManaged, without(getHappyPathFunctionStack(), "embeddings-logs", aws.cloudwatch.LogGroup), { externalLogGroups: [LOG_GROUP] }));
        });
    });
});

describe("policy pack: exposure and concurrency", () => {
    describe("lambda-function-url-auth", () => {
        const url = (change: Record<string, any> = {}, config?: Record<string, unknown>) => resourceArgs(aws.lambda.FunctionUrl, { ...getHappyPathFunctionUrl(), ...change }, { config });
        it("passes AWS_IAM", async () => assertNoViolations(await runResourcePolicy(P.lambdaFunctionUrlAuth, url())));
        it("refuses NONE", async () => assertViolation(await runResourcePolicy(P.lambdaFunctionUrlAuth, url({ authorizationType: "NONE" })), "authorizationType NONE"));
        it("accepts NONE when the stack's config allows public URLs", async () => assertNoViolations(await runResourcePolicy(P.lambdaFunctionUrlAuth, url({ authorizationType: "NONE" }, { allowPublicUrls: true }))));
    });

    describe("lambda-reserved-concurrency", () => {
        const prod = { requireReservedConcurrency: true };
        it("passes the happy path (dev: not required)", async () => {
            assertNoViolations(await runFn(P.lambdaReservedConcurrency, zip()));
            assertNoViolations(await runFn(P.lambdaReservedConcurrency, zip({ reservedConcurrentExecutions: undefined })));
        });
        it("passes a reservation in a prod-like stack", async () => assertNoViolations(await runFn(P.lambdaReservedConcurrency, zip(), prod)));
        it("refuses an unset reservation when required", async () => assertViolation(await runFn(P.lambdaReservedConcurrency, zip({ reservedConcurrentExecutions: undefined }), prod), "requires reserved concurrency"));
        it("refuses -1 (unreserved) when required", async () => assertViolation(await runFn(P.lambdaReservedConcurrency, zip({ reservedConcurrentExecutions: -1 }), prod), "requires reserved concurrency"));
        it("refuses 0 when required", async () => assertViolation(await runFn(P.lambdaReservedConcurrency, zip({ reservedConcurrentExecutions: 0 }), prod), "throttles every invocation"));
        it("refuses more than 900 in any stack", async () => {
            assertViolation(await runFn(P.lambdaReservedConcurrency, zip({ reservedConcurrentExecutions: limits.RESERVED_CONCURRENCY_MAX + 1 })), "above 900");
        });
    });

    describe("lambda-provisioned-within-reserved", () => {
        it("passes reserved 50 with auto scaling up to 20", async () => assertNoViolations(await runStack(P.lambdaProvisionedWithinReserved, getHappyPathConcurrencyStack())));
        it("refuses an auto scaling maximum above the reservation", async () => {
            const entries = changed(getHappyPathConcurrencyStack(), "embeddings-pc-target", (p) => ({ ...p, maxCapacity: 60 }));
            assertViolation(await runStack(P.lambdaProvisionedWithinReserved, entries), "reserves 50 but provisions up to 60", "embeddings");
        });
        it("adds static configs and scaling maximums", async () => {
            const entries: StackEntry[] = [
                ...getHappyPathConcurrencyStack(),
                { cls: aws.lambda.ProvisionedConcurrencyConfig, name: "canary", props: { functionName: FN_NAME, qualifier: "canary", provisionedConcurrentExecutions: 31 } },
            ];
            assertViolation(await runStack(P.lambdaProvisionedWithinReserved, entries), "provisions up to 51");
        });
        it("accepts any amount without a reservation", async () => {
            const entries = changed(getHappyPathConcurrencyStack(), "embeddings", (p) => ({ ...p, reservedConcurrentExecutions: -1 }));
            assertNoViolations(await runStack(P.lambdaProvisionedWithinReserved, entries));
        });
        it("is not applicable without provisioned concurrency", async () => assertNotApplicable(await runStack(P.lambdaProvisionedWithinReserved, getHappyPathFunctionStack()), "no provisioned concurrency"));
    });
});
