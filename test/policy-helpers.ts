/**
 * pulumi-policy-aws style test helpers: resources described by class and props, happy-path props per resource
 * kind, and assertions. The analyzer's arguments are built, and the policy run, by policy/evaluate.ts: the same
 * harness the offline plan uses, so the tests and the plan cannot judge a resource differently.
 */
import * as assert from "assert";
import * as aws from "@pulumi/aws";
import { unknownValue } from "@pulumi/pulumi/runtime/rpc";
import { ResourceValidationArgs, ResourceValidationPolicy, StackValidationArgs, StackValidationPolicy } from "@pulumi/policy";
import { TAG_PACKAGING, TAG_UNZIPPED_BYTES } from "../components/identity";
import { denyInsecureTransportPolicy } from "../components/iam";
import { Outcome, PlanResource, pulumiTypeOf, resourceValidationArgs, runValidation, stackValidationArgs } from "../policy/evaluate";

export type { Outcome } from "../policy/evaluate";

export const ACCOUNT = "123456789012";
export const FN_NAME = "ml-lambda-dev-embeddings";
export const BUCKET = "embeddings-models-1a2b3c4d";
export const MODEL_KEY = `models/all-MiniLM-L6-v2/${"a".repeat(64)}.tar`;
export const LOG_GROUP = `/aws/lambda/${FN_NAME}`;
export const ROLE_NAME = "embeddings-role-5e6f7a8b";
export const DIGEST = `sha256:${"0123456789abcdef".repeat(4)}`;
/** What the engine sends for an unknown string in preview (the analyzer's proxy throws on it). */
export const UNKNOWN = unknownValue;

type ResourceClass = { new (...args: any[]): any; __pulumiType?: string };
const urnOf = (type: string, name: string) => `urn:pulumi:test::ml-lambda::${type}::${name}`;
const config = (c: Record<string, unknown> = {}) => <T extends object>() => ({ ...c }) as T;

/** ResourceValidationArgs for one resource, as the analyzer builds them (props behind the unknown proxy). */
export function resourceArgs(cls: ResourceClass, props: Record<string, any>, opts: { name?: string; config?: Record<string, unknown> } = {}): ResourceValidationArgs {
    const type = pulumiTypeOf(cls)!;
    const name = opts.name ?? "embeddings";
    return resourceValidationArgs({ type, name, urn: urnOf(type, name), props }, config(opts.config));
}

export interface StackEntry {
    cls: ResourceClass;
    name: string;
    props: Record<string, any>;
    /** Input property -> names of the resources it was built from (resolved to PolicyResources). */
    deps?: Record<string, string[]>;
}

/** StackValidationArgs over hand-described resources; `deps` become propertyDependencies. */
export function stackArgs(entries: StackEntry[], cfg: Record<string, unknown> = {}): StackValidationArgs {
    const urnByName = (n: string) => {
        const e = entries.find((x) => x.name === n);
        assert.ok(e, `deps name ${n}, which is not an entry`);
        return urnOf(pulumiTypeOf(e!.cls)!, n);
    };
    const resources: PlanResource[] = entries.map((e) => {
        const propertyDependencies = Object.fromEntries(Object.entries(e.deps ?? {}).map(([prop, names]) => [prop, names.map(urnByName)]));
        return {
            type: pulumiTypeOf(e.cls)!,
            name: e.name,
            urn: urnOf(pulumiTypeOf(e.cls)!, e.name),
            props: e.props,
            propertyDependencies,
            dependencies: Object.values(propertyDependencies).flat(),
        };
    });
    return stackValidationArgs(resources, config(cfg));
}

export const runResourcePolicy = (policy: ResourceValidationPolicy, args: ResourceValidationArgs): Promise<Outcome> => runValidation(policy, args);
export const runStackPolicy = (policy: StackValidationPolicy, args: StackValidationArgs): Promise<Outcome> => runValidation(policy, args);

export function assertNoViolations(o: Outcome): void {
    assert.deepStrictEqual(o.violations.map((v) => v.message), [], "expected no violations");
    assert.strictEqual(o.notApplicable, undefined, `expected the policy to apply, got not applicable: ${o.notApplicable}`);
}

export function assertViolation(o: Outcome, substring: string | RegExp, urnName?: string): void {
    assert.strictEqual(o.notApplicable, undefined, `expected a violation, got not applicable: ${o.notApplicable}`);
    const found = o.violations.find((v) => (typeof substring === "string" ? v.message.includes(substring) : substring.test(v.message)));
    assert.ok(found, `no violation matching ${substring}; got ${JSON.stringify(o.violations.map((v) => v.message))}`);
    if (urnName) assert.ok(found!.urn?.endsWith(`::${urnName}`), `violation attributed to ${found!.urn}, expected ${urnName}`);
}

export function assertNotApplicable(o: Outcome, substring: string): void {
    assert.ok(o.notApplicable !== undefined, `expected not applicable, got ${JSON.stringify(o.violations.map((v) => v.message))}`);
    assert.ok(o.notApplicable!.includes(substring), `not-applicable reason "${o.notApplicable}" lacks "${substring}"`);
    assert.deepStrictEqual(o.violations, []);
}

// ---------------------------------------------------------------------------------------------------------
// Happy paths: what MlLambda produces for a well-configured dev stack
// ---------------------------------------------------------------------------------------------------------

export function getHappyPathZipFunction(): Record<string, any> {
    return {
        name: FN_NAME,
        role: `arn:aws:iam::${ACCOUNT}:role/${ROLE_NAME}`,
        packageType: "Zip",
        runtime: "python3.12",
        handler: "app.handler.lambda_handler",
        memorySize: 1769,
        timeout: 60,
        ephemeralStorage: { size: 512 },
        architectures: ["x86_64"],
        publish: true,
        layers: [`arn:aws:lambda:us-east-1:${ACCOUNT}:layer:${FN_NAME}-deps:1`],
        reservedConcurrentExecutions: 10,
        loggingConfig: { logFormat: "JSON", logGroup: LOG_GROUP, applicationLogLevel: "INFO", systemLogLevel: "INFO" },
        tags: { [TAG_PACKAGING]: "zip", [TAG_UNZIPPED_BYTES]: "138000000" },
    };
}

export function getHappyPathSnapStartFunction(): Record<string, any> {
    return { ...getHappyPathZipFunction(), snapStart: { applyOn: "PublishedVersions" } };
}

export function getHappyPathImageFunction(): Record<string, any> {
    const { runtime: _r, handler: _h, layers: _l, ...rest } = getHappyPathZipFunction();
    return {
        ...rest,
        packageType: "Image",
        imageUri: `${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/${FN_NAME}@${DIGEST}`,
        tags: { [TAG_PACKAGING]: "image", [TAG_UNZIPPED_BYTES]: "4096" },
    };
}

export function getHappyPathRepository(): Record<string, any> {
    return {
        name: FN_NAME,
        imageTagMutability: "IMMUTABLE",
        imageScanningConfiguration: { scanOnPush: true },
        encryptionConfigurations: [{ encryptionType: "AES256" }],
    };
}

export function getHappyPathLogGroup(): Record<string, any> {
    return { name: LOG_GROUP, retentionInDays: 14 };
}

export function getHappyPathFunctionUrl(): Record<string, any> {
    return { functionName: FN_NAME, authorizationType: "AWS_IAM" };
}

export const tlsOnlyPolicy = (bucket = BUCKET) => JSON.stringify(denyInsecureTransportPolicy(`arn:aws:s3:::${bucket}`));

export const lambdaTrust = JSON.stringify({
    Version: "2012-10-17",
    Statement: [{ Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" }],
});

export const doc = (...statements: Array<Record<string, unknown>>) => JSON.stringify({ Version: "2012-10-17", Statement: statements });

/** The model bucket and its settings, related by value (as after a deploy, or offline with outputs). */
export function getHappyPathBucketStack(): StackEntry[] {
    return [
        { cls: aws.s3.Bucket, name: "embeddings-models", props: { id: BUCKET, bucket: BUCKET, arn: `arn:aws:s3:::${BUCKET}` } },
        { cls: aws.s3.BucketVersioning, name: "embeddings-models-versioning", props: { bucket: BUCKET, versioningConfiguration: { status: "Enabled" } } },
        {
            cls: aws.s3.BucketServerSideEncryptionConfiguration,
            name: "embeddings-models-sse",
            props: { bucket: BUCKET, rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" }, bucketKeyEnabled: true }] },
        },
        {
            cls: aws.s3.BucketPublicAccessBlock,
            name: "embeddings-models-pab",
            props: { bucket: BUCKET, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true },
        },
        { cls: aws.s3.BucketPolicy, name: "embeddings-models-tls-only", props: { bucket: BUCKET, policy: tlsOnlyPolicy() } },
    ];
}

/** Role, its two least-privilege policies, the function and its log group. */
export function getHappyPathFunctionStack(fn: Record<string, any> = getHappyPathZipFunction()): StackEntry[] {
    return [
        { cls: aws.iam.Role, name: "embeddings-role", props: { name: ROLE_NAME, id: ROLE_NAME, arn: `arn:aws:iam::${ACCOUNT}:role/${ROLE_NAME}`, assumeRolePolicy: lambdaTrust } },
        {
            cls: aws.iam.RolePolicy,
            name: "embeddings-logs",
            props: {
                role: ROLE_NAME,
                policy: doc({ Sid: "WriteOwnLogs", Effect: "Allow", Action: ["logs:CreateLogStream", "logs:PutLogEvents"], Resource: `arn:aws:logs:us-east-1:${ACCOUNT}:log-group:${LOG_GROUP}:*` }),
            },
        },
        {
            cls: aws.iam.RolePolicy,
            name: "embeddings-model-read",
            props: { role: ROLE_NAME, policy: doc({ Sid: "ReadModelArchive", Effect: "Allow", Action: "s3:GetObject", Resource: `arn:aws:s3:::${BUCKET}/${MODEL_KEY}` }) },
        },
        { cls: aws.cloudwatch.LogGroup, name: "embeddings-logs", props: getHappyPathLogGroup() },
        { cls: aws.lambda.Function, name: "embeddings", props: fn },
    ];
}

/** Prod-like concurrency: a reservation of 50 and provisioned concurrency auto scaled 2..20 on the alias. */
export function getHappyPathConcurrencyStack(): StackEntry[] {
    return [
        { cls: aws.lambda.Function, name: "embeddings", props: { ...getHappyPathZipFunction(), reservedConcurrentExecutions: 50 } },
        { cls: aws.lambda.Alias, name: "embeddings-live", props: { name: "live", functionName: FN_NAME, functionVersion: "1" } },
        {
            cls: aws.appautoscaling.Target,
            name: "embeddings-pc-target",
            props: { serviceNamespace: "lambda", scalableDimension: "lambda:function:ProvisionedConcurrency", resourceId: `function:${FN_NAME}:live`, minCapacity: 2, maxCapacity: 20 },
        },
    ];
}

/** Replaces one entry's props (by name and class) with `change(props)`. */
export function changed(entries: StackEntry[], name: string, change: (props: Record<string, any>) => Record<string, any>, cls?: ResourceClass): StackEntry[] {
    let hit = false;
    const out = entries.map((e) => {
        if (e.name !== name || (cls && e.cls !== cls)) return e;
        hit = true;
        return { ...e, props: change(JSON.parse(JSON.stringify(e.props))) };
    });
    assert.ok(hit, `no entry named ${name}`);
    return out;
}

export const without = (entries: StackEntry[], name: string, cls?: ResourceClass) => entries.filter((e) => !(e.name === name && (!cls || e.cls === cls)));
