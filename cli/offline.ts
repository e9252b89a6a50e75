/**
 * Runs a Pulumi program under Pulumi's own mock engine (pulumi.runtime.setMocks): no CLI, no credentials, no AWS.
 * Every registered resource is recorded with its inputs; invokes the program makes are answered for the few
 * tokens we know and refused otherwise, so an unexpected AWS lookup is an error rather than a silent fake.
 * Used by the offline plan (`ml-lambda plan`) and by the tests.
 */
import * as crypto from "crypto";
import * as path from "path";
import type * as pulumiType from "@pulumi/pulumi";
import { MlLambdaError } from "../components/errors";
import { loadStack, LoadedStack } from "./stackFiles";

export const MOCK_ACCOUNT = "123456789012";

export interface RecordedResource {
    type: string;
    name: string;
    inputs: Record<string, any>;
    /** "type::name" of the parent resource (the stack for top-level resources). */
    parent?: string;
    custom: boolean;
    /** What the mock provider answered: id and outputs (placeholders for values only AWS computes). */
    id: string;
    outputs: Record<string, any>;
}

export const resourceKey = (type: string, name: string) => `${type}::${name}`;

export interface OfflineRun {
    stack: LoadedStack;
    resources: RecordedResource[];
    calls: Array<{ token: string; inputs: Record<string, any> }>;
    /** The program module's exports with every Output resolved. */
    outputs: Record<string, unknown>;
    preview: boolean;
}

function fakeHex(seed: string, len = 64): string {
    return crypto.createHash("sha256").update(seed).digest("hex").slice(0, len);
}

/** Plausible provider outputs for the types the component creates (only what the graph reads). */
export function mockState(type: string, name: string, inputs: Record<string, any>, region: string): Record<string, any> {
    const id = `${name}-${fakeHex(name, 8)}`;
    const arn = (svc: string, rest: string) => `arn:aws:${svc}:${region}:${MOCK_ACCOUNT}:${rest}`;
    switch (type) {
        case "aws:s3/bucket:Bucket": {
            const bucket = inputs.bucket ?? id.toLowerCase();
            return { ...inputs, bucket, id: bucket, arn: `arn:aws:s3:::${bucket}` };
        }
        case "aws:s3/bucketObjectv2:BucketObjectv2":
            return { ...inputs, id: inputs.key, arn: `arn:aws:s3:::${inputs.bucket}/${inputs.key}` };
        case "aws:cloudwatch/logGroup:LogGroup":
            return { ...inputs, arn: arn("logs", `log-group:${inputs.name}`) };
        case "aws:iam/role:Role":
            return { ...inputs, name: inputs.name ?? id, arn: `arn:aws:iam::${MOCK_ACCOUNT}:role/${inputs.name ?? id}` };
        case "aws:lambda/layerVersion:LayerVersion":
            return { ...inputs, version: "1", arn: arn("lambda", `layer:${inputs.layerName}:1`), layerArn: arn("lambda", `layer:${inputs.layerName}`) };
        case "aws:lambda/function:Function":
            return { ...inputs, version: "1", arn: arn("lambda", `function:${inputs.name}`), qualifiedArn: arn("lambda", `function:${inputs.name}:1`) };
        case "aws:lambda/alias:Alias":
            return { ...inputs, arn: arn("lambda", `function:${inputs.functionName}:${inputs.name}`) };
        case "aws:ecr/repository:Repository":
            return {
                ...inputs,
                registryId: MOCK_ACCOUNT,
                repositoryUrl: `${MOCK_ACCOUNT}.dkr.ecr.${region}.amazonaws.com/${inputs.name}`,
                arn: arn("ecr", `repository/${inputs.name}`),
            };
        case "docker:index/image:Image": {
            // What a push reports: the repository plus the manifest digest (one single-platform manifest).
            const repo = String(inputs.imageName).replace(/:[^:/]+$/, "");
            return { ...inputs, repoDigest: `${repo}@sha256:${fakeHex(JSON.stringify(inputs.build ?? {}))}` };
        }
        case "aws:lambda/functionUrl:FunctionUrl": {
            // What Lambda returns: https://<url-id>.lambda-url.<region>.on.aws/ (the id is 32 lowercase alphanumerics).
            const urlId = fakeHex(`${name}:${inputs.functionName}:${inputs.qualifier ?? ""}`, 32);
            return {
                ...inputs,
                urlId,
                functionUrl: `https://${urlId}.lambda-url.${region}.on.aws/`,
                functionArn: arn("lambda", `function:${inputs.functionName}`),
                invokeMode: inputs.invokeMode ?? "BUFFERED",
            };
        }
        case "aws:appautoscaling/target:Target":
            return { ...inputs, arn: arn("application-autoscaling", `scalable-target/${id}`) };
        default:
            return { ...inputs, arn: arn(type.split(":")[1]?.split("/")[0] ?? "x", id) };
    }
}

export function mockCall(token: string, inputs: Record<string, any>, region: string): Record<string, any> {
    switch (token) {
        case "aws:index/getPartition:getPartition":
            return { partition: "aws", dnsSuffix: "amazonaws.com", id: "aws" };
        case "aws:index/getCallerIdentity:getCallerIdentity":
            return { accountId: MOCK_ACCOUNT, arn: `arn:aws:iam::${MOCK_ACCOUNT}:user/offline`, userId: "OFFLINE", id: MOCK_ACCOUNT };
        case "aws:index/getRegion:getRegion":
            return { name: region, region, id: region };
        case "aws:ecr/getAuthorizationToken:getAuthorizationToken":
            return {
                userName: "AWS",
                password: "offline-plan-no-token",
                proxyEndpoint: `https://${inputs.registryId ?? MOCK_ACCOUNT}.dkr.ecr.${region}.amazonaws.com`,
                authorizationToken: "",
                expiresAt: "",
                id: region,
            };
        default:
            throw new Error(`offline run: the program called ${token}, which the mock engine does not answer (it needs AWS)`);
    }
}

async function resolveDeep(value: unknown, pulumi: typeof pulumiType): Promise<unknown> {
    if (pulumi.Output.isInstance(value)) {
        const v = await new Promise<unknown>((resolve) => (value as pulumiType.Output<unknown>).apply((x) => { resolve(x); return x; }));
        return resolveDeep(v, pulumi);
    }
    if (Array.isArray(value)) return Promise.all(value.map((v) => resolveDeep(v, pulumi)));
    if (value && typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
        const out: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(value)) out[k] = await resolveDeep(v, pulumi);
        return out;
    }
    return value;
}

export interface RunOptions {
    projectDir: string;
    stack: string;
    /** Program entry, relative to projectDir. @default "index.ts" */
    program?: string;
    /** Preview mode (like `pulumi preview`). @default true */
    preview?: boolean;
    /** Extra or overriding config ("ml-lambda:memorySize" → "3008"). */
    configOverrides?: Record<string, string>;
}

/**
 * A TypeScript program is compiled on load by the project's own ts-node, as Pulumi's Node.js runtime does. Needed
 * when `ml-lambda` runs from an npm install (plain node); under mocha or `ts-node cli/main.ts` .ts is already handled.
 */
export function ensureTypeScript(programPath: string, projectDir: string): void {
    if (!programPath.endsWith(".ts") || require.extensions[".ts"]) return;
    let tsNode: string;
    try {
        tsNode = require.resolve("ts-node", { paths: [projectDir] });
    } catch {
        throw new MlLambdaError("program", programPath, "a TypeScript program needs ts-node in the project (Pulumi's own runtime uses it too)",
            "npm install --save-dev ts-node typescript");
    }
    require(tsNode).register({ transpileOnly: true, dir: projectDir });
}

/**
 * Loads the stack's config, installs the mocks, (re)loads the program and waits for every export to resolve.
 * The program and everything under projectDir outside node_modules is re-required on each run, so one process
 * can run dev and prod one after the other.
 */
export async function runOffline(opts: RunOptions): Promise<OfflineRun> {
    const pulumi: typeof pulumiType = require("@pulumi/pulumi");
    const stack = loadStack(opts.projectDir, opts.stack);
    const config = { ...stack.config, ...(opts.configOverrides ?? {}) };
    const region = config["aws:region"] ?? "us-east-1";
    const preview = opts.preview ?? true;
    const resources: RecordedResource[] = [];
    const calls: OfflineRun["calls"] = [];
    // The mocks are not told parents: a stack transformation (inherited by every resource) records them.
    const keys = new Map<pulumiType.Resource, string>();
    const parents = new Map<string, string | undefined>();
    pulumi.runtime.setAllConfig(config, []);
    await pulumi.runtime.setMocks({
        newResource(args) {
            const state = mockState(args.type, args.name, args.inputs, region);
            const key = resourceKey(args.type, args.name);
            const id = String(state.id ?? `${args.name}-id`);
            resources.push({ type: args.type, name: args.name, inputs: args.inputs, custom: args.custom ?? true, parent: parents.get(key), id, outputs: state });
            return { id, state };
        },
        call(args) {
            calls.push({ token: args.token, inputs: args.inputs });
            return mockCall(args.token, args.inputs, region);
        },
    }, stack.project, stack.stack, preview);

    const programPath = path.resolve(opts.projectDir, opts.program ?? "index.ts");
    ensureTypeScript(programPath, opts.projectDir);
    const root = path.resolve(opts.projectDir) + path.sep;
    for (const key of Object.keys(require.cache)) {
        if (key.startsWith(root) && !key.includes(`${path.sep}node_modules${path.sep}`)) delete require.cache[key];
    }
    const { runInPulumiStack } = require("@pulumi/pulumi/runtime/stack");
    let program: Record<string, unknown> = {};
    // Without an engine, pulumi.log.info writes to stdout; the program's chatter belongs on stderr, so that the
    // caller's stdout (the plan, or its --json) stays clean.
    const stdoutLog = console.log;
    console.log = (...a: unknown[]) => console.error(...a);
    try {
        await runInPulumiStack(async () => {
            pulumi.runtime.registerStackTransformation((args) => {
                const key = resourceKey(args.type, args.name);
                keys.set(args.resource, key);
                parents.set(key, args.opts.parent ? keys.get(args.opts.parent) ?? resourceKey("pulumi:pulumi:Stack", `${stack.project}-${stack.stack}`) : undefined);
                return undefined;
            });
            program = require(programPath);
            return program;
        });
        const outputs = (await resolveDeep({ ...program }, pulumi)) as Record<string, unknown>;
        // Resources registered from inside applies land after the exports resolve: let the engine drain.
        await new Promise((r) => setTimeout(r, 50));
        return { stack, resources, calls, outputs, preview };
    } finally {
        console.log = stdoutLog;
    }
}
