/**
 * `npm run test:e2e`: the project's own program deployed for real. A Pulumi engine (the CLI) runs index.ts for the
 * dev and prod stacks, with the policy pack in the real analyzer, against moto server over HTTPS on 127.0.0.1;
 * then boto3 reads back from outside what was deployed and the test compares it with the plan. A second preview
 * must show no changes apart from the named emulator gaps (e2e/gaps.ts); destroy must leave only what retainData
 * keeps; a stack that breaks a mandatory policy must be refused.
 *
 * Toolchain: see e2e/toolchain.ts (a real `pulumi` if there is one, else the Go-module build with a STAND-IN aws
 * provider). Progress goes to stderr, prefixed with the elapsed time.
 */
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import type { Stack } from "@pulumi/pulumi/automation";
import { EngineRun, nameOf, openStack, runEngine, stateOf, typeOf } from "./engine";
import { compareSecondPreview, compareWithGaps, gapsFor } from "./gaps";
import { Moto, startMoto } from "./moto";
import { compareNames } from "./names";
import { resolveToolchain, Toolchain } from "./toolchain";

const REPO = path.resolve(__dirname, "..");
const PYTHON = process.env.ML_LAMBDA_E2E_PYTHON ?? path.join(REPO, ".cache", "venv", "bin", "python");
const POLICY_PACK = path.join(REPO, "policy");
const started = Date.now();
const say = (msg: string) => process.stderr.write(`[e2e +${Math.round((Date.now() - started) / 1000)}s] ${msg}\n`);
const engineLog = (prefix: string) => (line: string) => process.stderr.write(`  ${prefix} | ${line}\n`);

const sha256 = (file: string) => crypto.createHash("sha256").update(fs.readFileSync(file)).digest();
const stackYaml = (stack: string) => YAML.parse(fs.readFileSync(path.join(REPO, `Pulumi.${stack}.yaml`), "utf8")).config as Record<string, any>;
/**
 * The SHA256 checksum S3 reports for a file uploaded with checksumAlgorithm SHA256: of the whole object, or for a
 * multipart upload (the provider's upload manager splits files over 5 MiB into 5 MiB parts, its default part size)
 * the COMPOSITE one: sha256 of the parts' sha256 digests.
 */
function s3Sha256Checksum(file: string, type: string | undefined): string {
    const bytes = fs.readFileSync(file);
    if (type !== "COMPOSITE") return crypto.createHash("sha256").update(bytes).digest("base64");
    const part = 5 * 1024 * 1024;
    const digests: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += part) digests.push(crypto.createHash("sha256").update(bytes.subarray(i, i + part)).digest());
    return crypto.createHash("sha256").update(Buffer.concat(digests)).digest("base64");
}

/** Asset/archive inputs in a checkpoint: { <signature>: ..., path, hash }. */
const assetPath = (v: any): string => {
    assert.ok(v && typeof v.path === "string", `expected a file asset/archive, got ${JSON.stringify(v)}`);
    return path.isAbsolute(v.path) ? v.path : path.join(REPO, v.path);
};

interface Deployed {
    stack: Stack;
    preview: EngineRun;
    up: EngineRun;
    state: Awaited<ReturnType<typeof stateOf>>;
    /** What the boto3 test read back: both layers' bytes downloaded from the emulator, the code proven equal. */
    readBack?: { configuration: any; codeZip: string; layerZips: string[] };
}

function inspect(moto: Moto, what: "deployed" | "inventory", want?: unknown): any {
    const args = [path.join(REPO, "e2e", "inspect_aws.py"), moto.endpoint, moto.caBundle, what, ...(want ? [JSON.stringify(want)] : [])];
    const r = spawnSync(PYTHON, args, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
    assert.strictEqual(r.status, 0, `inspect_aws.py ${what} failed: ${r.stderr}`);
    return JSON.parse(r.stdout);
}

describe("pulumi up for real: the program on a local AWS (moto over HTTPS), policies in the real analyzer", function () {
    this.timeout(0);
    let tc: Toolchain;
    let moto: Moto;
    let base: string;
    const env: Record<string, string> = {};
    let providerConfig: Record<string, unknown>;
    const deployed: Record<string, Deployed> = {};

    const savedEnv = { PATH: process.env.PATH, PULUMI_HOME: process.env.PULUMI_HOME };

    before(async () => {
        // The program runs in this process (inline): give it what `npm run plan` gives it (scripts/plan.sh).
        process.env.ML_LAMBDA_CACHE_DIR ??= path.join(REPO, ".cache", "ml-lambda");
        process.env.PIP_CACHE_DIR ??= path.join(REPO, ".cache", "pip");
        const hub = spawnSync("bash", [path.join(REPO, "scripts", "offline-model.sh")], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
        assert.strictEqual(hub.status, 0, "scripts/offline-model.sh failed");
        if (hub.stdout.trim()) process.env.HF_HUB_CACHE = hub.stdout.trim();
        const venvPython = path.join(REPO, ".cache", "venv", "bin", "python");
        if (!process.env.ML_LAMBDA_EXPORT_PYTHON && fs.existsSync(venvPython)) process.env.ML_LAMBDA_EXPORT_PYTHON = venvPython; // ONNX export at build time
        tc = resolveToolchain(REPO, say);
        say(`toolchain: ${tc.describe}`);
        base = fs.mkdtempSync(path.join(os.tmpdir(), "ml-lambda-e2e-"));
        moto = await startMoto({ python: PYTHON, dir: base, log: say });
        Object.assign(env, {
            PATH: `${tc.pathPrefix}${path.delimiter}${process.env.PATH}`,
            PULUMI_CONFIG_PASSPHRASE: "e2e-test-only",
            PULUMI_SKIP_UPDATE_CHECK: "1",
            PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK: "1",
            AWS_ACCESS_KEY_ID: "testing",
            AWS_SECRET_ACCESS_KEY: "testing",
            AWS_EC2_METADATA_DISABLED: "true",
            ML_LAMBDA_CACHE_DIR: process.env.ML_LAMBDA_CACHE_DIR,
            ...(tc.privateHome ? { PULUMI_HOME: path.join(base, "pulumi-home") } : {}),
        });
        // The Automation API finds the CLI on this process's PATH; the CLI passes its environment to the plugins.
        process.env.PATH = env.PATH;
        if (tc.privateHome) process.env.PULUMI_HOME = env.PULUMI_HOME;
        const endpoint = moto.endpoint;
        providerConfig = {
            "aws:endpoints": [Object.fromEntries(["s3", "lambda", "iam", "logs", "cloudwatch", "ecr", "appautoscaling", "sts"].map((s) => [s, endpoint]))],
            "aws:skipCredentialsValidation": true,
            "aws:skipRequestingAccountId": true,
            "aws:skipMetadataApiCheck": true,
            "aws:s3UsePathStyle": true,
            // moto answers 500 for what it does not implement: without a cap the SDK retries for minutes.
            "aws:maxRetries": 2,
            "aws:customCaBundle": moto.caBundle,
        };
        say(`workspaces and state under ${base}`);
    });

    after(async () => {
        if (moto) await moto.stop();
        for (const [k, v] of Object.entries(savedEnv)) {
            if (v === undefined) delete process.env[k];
            else process.env[k] = v;
        }
        if (base && !process.env.ML_LAMBDA_E2E_KEEP) fs.rmSync(base, { recursive: true, force: true });
        else if (base) say(`kept ${base} (ML_LAMBDA_E2E_KEEP)`);
    });

    const packsFor = (stack: string) => ({
        policyPacks: [POLICY_PACK],
        policyPackConfigs: stack === "prod" ? [path.join(POLICY_PACK, "config.prod.json")] : undefined,
    });

    it("the stand-in aws provider serves @pulumi/aws 7.48.0's tokens and input names (built toolchain only)", function () {
        if (tc.kind !== "built") this.skip(); // the published plugin generated those .d.ts files itself
        const r = spawnSync(path.join(tc.pathPrefix, "pulumi-resource-aws"), ["-dump-names"], { encoding: "utf8", maxBuffer: 16 * 1024 * 1024 });
        assert.strictEqual(r.status, 0, r.stderr);
        const served = JSON.parse(r.stdout) as Record<string, { inputs: string[] }>;
        // What components/mlLambda.ts registers on either path, plus the function URL and its permission.
        assert.deepStrictEqual(Object.keys(served).sort(), [
            "aws:appautoscaling/policy:Policy", "aws:appautoscaling/target:Target", "aws:cloudwatch/logGroup:LogGroup",
            "aws:cloudwatch/metricAlarm:MetricAlarm", "aws:cloudwatch/queryDefinition:QueryDefinition",
            "aws:ecr/lifecyclePolicy:LifecyclePolicy", "aws:ecr/repository:Repository", "aws:iam/role:Role", "aws:iam/rolePolicy:RolePolicy",
            "aws:lambda/alias:Alias", "aws:lambda/function:Function", "aws:lambda/functionUrl:FunctionUrl", "aws:lambda/layerVersion:LayerVersion",
            "aws:lambda/permission:Permission", "aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig", "aws:s3/bucket:Bucket",
            "aws:s3/bucketObjectv2:BucketObjectv2", "aws:s3/bucketOwnershipControls:BucketOwnershipControls", "aws:s3/bucketPolicy:BucketPolicy",
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "aws:s3/bucketVersioning:BucketVersioning",
        ]);
        const problems = compareNames(served, path.join(REPO, "node_modules", "@pulumi", "aws"));
        assert.deepStrictEqual(problems, [], problems.join("\n"));
    });

    for (const stackName of ["dev", "prod"] as const) {
        it(`${stackName}: preview then up create every resource except the named emulator gaps`, async () => {
            say(`${stackName}: opening the stack (workspace copy of Pulumi.yaml and Pulumi.${stackName}.yaml)`);
            const stack = await openStack({ repo: REPO, baseDir: base, stackName, fromStack: stackName, providerConfig, env });
            say(`${stackName}: preview with the policy pack`);
            const preview = await runEngine(stack, "preview", { ...packsFor(stackName), log: engineLog(`${stackName} preview`) });
            assert.ok(preview.ok, `${stackName} preview failed: ${preview.error}`);
            const planned = [...preview.resources.values()].filter((r) => r.op === "create").map((r) => r.urn);
            say(`${stackName}: preview plans ${planned.length} creates in ${preview.seconds.toFixed(0)} s; up`);
            const up = await runEngine(stack, "up", { ...packsFor(stackName), log: engineLog(`${stackName} up`) });
            const state = await stateOf(stack);
            deployed[stackName] = { stack, preview, up, state };
            const inState = new Set(state.map((r) => r.urn));
            const created = planned.filter((u) => inState.has(u) && !up.resources.get(u)?.failed);
            say(`${stackName}: up ${up.ok ? "succeeded" : "ended with errors"} in ${up.seconds.toFixed(0)} s; ${created.length} of ${planned.length} planned resources created:`);
            for (const urn of planned) {
                const failed = up.resources.get(urn)?.failed;
                const status = failed ? (inState.has(urn) ? "FAILED, kept" : "FAILED") : inState.has(urn) ? "created" : "SKIPPED";
                say(`    ${status.padEnd(12)} ${typeOf(urn)}  ${nameOf(urn)}`);
            }
            const problems = compareWithGaps(up, planned, inState, gapsFor(stackName));
            for (const g of gapsFor(stackName).filter((x) => x.up !== "ok")) say(`  emulator gap (${g.up}): ${g.type} ${g.name}: ${g.why}`);
            assert.deepStrictEqual(problems, [], problems.join("\n"));
            // Only the gaps may fail: if none applied, the update itself must have succeeded.
            if (!gapsFor(stackName).some((g) => g.up === "failed")) assert.ok(up.ok, up.error);
        });

        it(`${stackName}: the policy pack ran in the real analyzer on preview and up`, () => {
            const d = deployed[stackName];
            assert.ok(d, "needs the up above");
            // The engine lists each pack that ran under "Policies:" (✅ = no mandatory violation); violations also
            // come as policy events.
            for (const run of [d.preview, d.up]) assert.match(run.output, /Policies:\s*\n\s*✅ ml-lambda@v[\d.]+ \(local: /, "the ml-lambda pack ran");
            const mandatory = [...d.preview.policies, ...d.up.policies].filter((p) => p.level === "mandatory");
            assert.deepStrictEqual(mandatory, [], "no mandatory violation on the committed stacks");
        });

        it(`${stackName}: boto3 sees the function, its layers (dependencies, model), bucket, role and logs as planned`, () => {
            const d = deployed[stackName];
            assert.ok(d, "needs the up above");
            const cfg = stackYaml(stackName);
            const of = (type: string) => d.state.filter((r) => r.type === `aws:${type}`);
            const one = (type: string) => { const f = of(type); assert.strictEqual(f.length, 1, `one ${type}`); return f[0]; };
            const fn = one("lambda/function:Function");
            // Two layers: the dependencies and the model (it fits beside them on both stacks: modelDelivery "auto").
            const layers = of("lambda/layerVersion:LayerVersion");
            const layerNamed = (kind: string) => layers.find((l) => String(l.inputs.layerName).endsWith(`-${kind}`))!;
            const [depsLayer, modelLayer] = [layerNamed("deps"), layerNamed("model")];
            assert.ok(depsLayer && modelLayer && layers.length === 2, `deps and model layers: ${layers.map((l) => l.inputs.layerName)}`);
            const alias = one("lambda/alias:Alias");
            const bucket = one("s3/bucket:Bucket");
            const role = one("iam/role:Role");
            const logGroup = one("cloudwatch/logGroup:LogGroup");
            const objects = of("s3/bucketObjectv2:BucketObjectv2");
            // No model archive object: the model ships in its layer. Both layer zips (over 50 MB) go through the bucket.
            assert.deepStrictEqual(objects.filter((o) => String(o.inputs.key).startsWith("models/")), [], "no model archive in S3");
            const depsZip = objects.find((o) => /\/deps-[0-9a-f]{64}\.zip$/.test(String(o.inputs.key)))!;
            const modelZip = objects.find((o) => /\/model-[0-9a-f]{64}\.zip$/.test(String(o.inputs.key)))!;
            assert.ok(depsZip && modelZip, `both layer zip objects in ${objects.map((o) => o.inputs.key)}`);
            const depsDownload = path.join(base, `${stackName}-deps-layer.zip`);
            const modelDownload = path.join(base, `${stackName}-model-layer.zip`);
            say(`${stackName}: reading back with boto3 (function ${fn.outputs.name})`);
            const got = inspect(moto, "deployed", {
                function: fn.outputs.name, alias: alias.outputs.name, layers: fn.outputs.layers, bucket: bucket.outputs.bucket,
                objects: [depsZip.inputs.key, modelZip.inputs.key], download: { [depsZip.inputs.key]: depsDownload, [modelZip.inputs.key]: modelDownload },
                role: role.outputs.name, log_group: logGroup.outputs.name,
            });
            const c = got.configuration;
            assert.ok(!c.error, `get_function_configuration: ${c.error}`);

            // Sizing and runtime: from the repository's stack file, through the engine, to the emulator.
            assert.strictEqual(c.MemorySize, cfg["ml-lambda:memorySize"]);
            assert.strictEqual(c.Timeout, cfg["ml-lambda:timeout"]);
            assert.strictEqual(c.Runtime, cfg["ml-lambda:runtime"]);
            assert.deepStrictEqual(c.Architectures, [cfg["ml-lambda:architecture"]]);
            assert.strictEqual(c.PackageType, "Zip");
            assert.strictEqual(c.Handler, fn.inputs.handler);
            assert.strictEqual(c.Role, role.outputs.arn);
            assert.strictEqual(c.EphemeralStorage?.Size, fn.inputs.ephemeralStorage.size);
            if (stackName === "prod") assert.strictEqual(got.concurrency?.ReservedConcurrentExecutions, cfg["ml-lambda:reservedConcurrency"]);
            else assert.ok(!got.concurrency?.ReservedConcurrentExecutions, "dev reserves no concurrency");

            // Code: the bytes the plan built (a direct upload) are the bytes the emulator holds.
            const codeZip = assetPath(fn.inputs.code);
            assert.strictEqual(c.CodeSha256, sha256(codeZip).toString("base64"), "function code sha256 = the built code zip");
            assert.strictEqual(c.CodeSize, fs.statSync(codeZip).size);

            // Layers: each published from the S3 copy of its built zip; the emulator's hash is of the bytes it got.
            assert.deepStrictEqual(c.Layers.map((l: any) => l.Arn), [depsLayer.outputs.arn, modelLayer.outputs.arn], "the function runs exactly our layer versions: dependencies, then the model");
            const sizes: string[] = [];
            for (const [layer, obj, download] of [[depsLayer, depsZip, depsDownload], [modelLayer, modelZip, modelDownload]] as const) {
                const built = assetPath(obj.inputs.source);
                const lv = got.layers[layer.outputs.arn];
                assert.ok(!lv.error, `get_layer_version_by_arn: ${lv.error}`);
                assert.strictEqual(lv.Content.CodeSha256, sha256(built).toString("base64"), `${layer.inputs.layerName}: bytes = the built zip`);
                assert.strictEqual(lv.Content.CodeSha256, layer.inputs.sourceCodeHash);
                assert.strictEqual(lv.Content.CodeSize, fs.statSync(built).size);
                assert.deepStrictEqual(lv.CompatibleRuntimes, [cfg["ml-lambda:runtime"]]);
                assert.deepStrictEqual(lv.CompatibleArchitectures, [cfg["ml-lambda:architecture"]]);
                assert.strictEqual(got.objects[obj.inputs.key].content.sha256_hex, sha256(built).toString("hex"));
                assert.strictEqual(sha256(download).toString("hex"), sha256(built).toString("hex"), "downloaded layer = built layer");
                sizes.push(`${layer.inputs.layerName} ${lv.Content.CodeSize} B`);
            }

            // Environment: exactly what the program asked for: the model at the layer's fixed path, no S3 coordinates.
            assert.deepStrictEqual(c.Environment.Variables, fn.inputs.environment.variables);
            const vars = c.Environment.Variables;
            assert.strictEqual(vars.MODEL_DIR, "/opt/ml/model");
            for (const k of ["MODEL_BUCKET", "MODEL_KEY", "MODEL_SHA256"]) assert.strictEqual(vars[k], undefined, k);
            assert.strictEqual(vars.MODEL_BACKEND, cfg["ml-lambda:backend"]);

            // The model layer's object: its S3 checksum and its content are the zip the plan built.
            const m = got.objects[modelZip.inputs.key];
            const checksum = m.attributes.Checksum;
            assert.ok(checksum?.ChecksumSHA256, `GetObjectAttributes gives the object's SHA256 checksum: ${JSON.stringify(m.attributes)}`);
            assert.strictEqual(m.head.ChecksumSHA256, checksum.ChecksumSHA256);
            assert.strictEqual(checksum.ChecksumSHA256.replace(/-\d+$/, ""), s3Sha256Checksum(assetPath(modelZip.inputs.source), checksum.ChecksumType),
                `S3's ${checksum.ChecksumType} SHA256 checksum of the model layer's zip = the planned zip's`);

            // Alias: "live" on the version the up published.
            assert.strictEqual(got.alias.Name, "live");
            assert.strictEqual(got.alias.FunctionVersion, fn.outputs.version);
            assert.ok(got.versions.includes(fn.outputs.version));

            // Bucket: versioned, encrypted, private, owner-enforced, TLS-only.
            const b = got.bucket;
            assert.strictEqual(b.versioning.Status, "Enabled");
            const sse = b.encryption.ServerSideEncryptionConfiguration.Rules[0];
            assert.strictEqual(sse.ApplyServerSideEncryptionByDefault.SSEAlgorithm, "AES256");
            assert.strictEqual(sse.BucketKeyEnabled, true);
            assert.deepStrictEqual(b.public_access_block.PublicAccessBlockConfiguration, { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true });
            assert.strictEqual(b.ownership.OwnershipControls.Rules[0].ObjectOwnership, "BucketOwnerEnforced");
            const bucketPolicy = one("s3/bucketPolicy:BucketPolicy");
            assert.deepStrictEqual(JSON.parse(b.policy.Policy), JSON.parse(bucketPolicy.inputs.policy));

            // IAM: the trust policy and the inline policies, as planned; nothing else attached.
            assert.deepStrictEqual(got.role.Role.AssumeRolePolicyDocument, JSON.parse(role.inputs.assumeRolePolicy));
            const planned = Object.fromEntries(of("iam/rolePolicy:RolePolicy").map((p) => [p.outputs.name, JSON.parse(p.inputs.policy)]));
            assert.deepStrictEqual(got.role_policies, planned);
            assert.deepStrictEqual(got.attached_policies, []);
            // The model ships in a layer: the role reads nothing from S3 (its own log group only).
            const actions = Object.values(planned).flatMap((p: any) => p.Statement.flatMap((st: any) => [st.Action].flat()));
            assert.deepStrictEqual(actions, ["logs:CreateLogStream", "logs:PutLogEvents"], "no S3 read on the role");

            // Logs: the function's group with the stack's retention.
            assert.deepStrictEqual(got.log_groups, [{ name: `/aws/lambda/${fn.outputs.name}`, retentionInDays: cfg["ml-lambda:logRetentionDays"] }]);
            // For the faithful run: moto's GetFunction gives no downloadable code location, so the code is the built
            // zip proven byte-identical above (CodeSha256); both layers are the bytes downloaded back.
            d.readBack = { configuration: c, codeZip, layerZips: [depsDownload, modelDownload] };
            say(`${stackName}: function ${c.MemorySize} MB / ${c.Timeout} s / ${c.Runtime} / ${c.Architectures}, ${sizes.join(", ")}: as planned`);
        });

        it(`${stackName}: the code and both layers read back from the emulator answer 200 with 384-dimension vectors in the faithful run`, async function () {
            const d = deployed[stackName];
            assert.ok(d?.readBack, "needs the read-back above");
            const run = require(path.join(REPO, "cli", "run"));
            const r = d.readBack!;
            say(`${stackName}: faithful run of the read-back code + dependency layer + model layer (nothing in S3)`);
            const runner = run.createRunner({
                name: r.configuration.FunctionName, packageType: "Zip", runtime: r.configuration.Runtime, handler: r.configuration.Handler,
                architecture: r.configuration.Architectures[0], memoryMb: r.configuration.MemorySize, timeoutS: r.configuration.Timeout,
                ephemeralStorageMb: r.configuration.EphemeralStorage.Size, region: "us-east-1",
                environment: r.configuration.Environment.Variables,
                code: { zip: r.codeZip }, layers: r.layerZips.map((zip) => ({ zip })),
                s3Objects: [],
            }, { cacheDir: env.ML_LAMBDA_CACHE_DIR, cpus: 1, log: engineLog(`${stackName} faithful`) });
            try {
                await runner.start();
                const got = await runner.invoke({ texts: ["a deployed function", "read back from the emulator"] });
                assert.strictEqual(got.status, 200, got.body);
                const body = JSON.parse(got.response.body);
                assert.strictEqual(got.response.statusCode, 200, got.response.body);
                assert.strictEqual(body.count, 2);
                assert.strictEqual(body.dimension, 384);
                assert.deepStrictEqual(body.embeddings.map((v: number[]) => v.length), [384, 384]);
                say(`${stackName}: faithful run answered 200, 2 x 384 floats, first response after ${got.timeToFirstResponseMs ?? "?"} ms`);
            } finally {
                await runner.stop();
            }
        });

        it(`${stackName}: a second preview changes nothing apart from the named emulator gaps`, async () => {
            const d = deployed[stackName];
            assert.ok(d, "needs the up above");
            say(`${stackName}: second preview`);
            const again = await runEngine(d.stack, "preview", { ...packsFor(stackName), log: engineLog(`${stackName} preview 2`) });
            assert.ok(again.ok, `second preview failed: ${again.error}`);
            const { problems, expected } = compareSecondPreview(again, gapsFor(stackName));
            for (const line of expected) say(`  expected change: ${line}`);
            assert.deepStrictEqual(problems, [], `changes a second preview should not have:\n${problems.join("\n")}`);
        });
    }

    it("a stack that breaks a mandatory policy is refused by the real analyzer (non-zero exit)", async () => {
        // prod's policy config makes the ML memory minimum (1024 MB) mandatory; 512 MB breaks it.
        const stack = await openStack({ repo: REPO, baseDir: base, stackName: "prod-too-small", fromStack: "prod", overrides: { "ml-lambda:memorySize": 512 }, providerConfig, env });
        say("prod-too-small: preview with prod's policy config (memorySize 512)");
        const run = await runEngine(stack, "preview", { ...packsFor("prod"), log: engineLog("prod-too-small") });
        assert.strictEqual(run.ok, false, "the preview must fail");
        assert.notStrictEqual(run.exitCode, 0, `non-zero exit: ${run.error}`);
        say(`prod-too-small: refused, exit code ${run.exitCode}`);
        assert.match(run.output, /❌ ml-lambda@v[\d.]+ \(local: [\s\S]*\[mandatory\] +ml-lambda-memory-minimum +\(aws:lambda\/function:Function: embeddings\)/);
        assert.match(run.output, /memorySize 512 MB is below the ML minimum of 1,024 MB/);
        const mandatory = run.policies.filter((p) => p.level === "mandatory");
        assert.deepStrictEqual(mandatory.map((p) => [p.policy, p.urn?.split("::").pop()]), [["ml-lambda-memory-minimum", "embeddings"]],
            `exactly the memory policy refuses the function: ${JSON.stringify(run.policies)}`);
        assert.strictEqual((await stateOf(stack)).length, 0, "nothing was deployed");
    });

    it("destroy removes everything but what retainData keeps (prod's model bucket and its objects)", async () => {
        for (const stackName of ["dev", "prod"]) {
            const d = deployed[stackName];
            assert.ok(d, `needs ${stackName}'s up`);
            say(`${stackName}: destroy`);
            const run = await runEngine(d.stack, "destroy", { log: engineLog(`${stackName} destroy`) });
            assert.ok(run.ok, `${stackName} destroy failed: ${run.error}`);
            assert.deepStrictEqual((await stateOf(d.stack)).filter((r) => r.custom), [], `${stackName}: the stack holds nothing`);
        }
        const left = inspect(moto, "inventory");
        say(`left in the emulator: ${JSON.stringify(left)}`);
        const prodBucket = deployed.prod.state.find((r) => r.type === "aws:s3/bucket:Bucket")!.outputs.bucket;
        const prodObjects = deployed.prod.state.filter((r) => r.type === "aws:s3/bucketObjectv2:BucketObjectv2").map((r) => r.inputs.key).sort();
        assert.deepStrictEqual(left.functions, []);
        assert.deepStrictEqual(left.layers.filter((l: any) => l.versions.length), []);
        assert.deepStrictEqual(left.roles, []);
        assert.deepStrictEqual(left.log_groups, []);
        assert.deepStrictEqual(Object.keys(left.buckets), [prodBucket], "only prod's bucket (retainData); dev's went with forceDestroy");
        assert.deepStrictEqual(left.buckets[prodBucket], prodObjects, "prod keeps its layer zips (the dependencies', the model's)");
        if (Array.isArray(left.scalable_targets)) assert.deepStrictEqual(left.scalable_targets, []);
    });
});
