/**
 * The project's own program (index.ts) with the committed Pulumi.dev.yaml and Pulumi.prod.yaml, run under the
 * mock engine the way `pulumi up` would run it: config parsed from the files, project defaults applied.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { OfflineRun, runOffline } from "../cli/offline";
import { STACK_CONFIG_KEYS } from "../config";
import { NO_EXPORT_PYTHON, offlineHubCache, REPO, TEST_CACHE } from "./mocks";
import { readZipEntries, readZipEntryData } from "../components/packaging";

const find = (run: OfflineRun, type: string) => run.resources.filter((r) => r.type === type);
const one = (run: OfflineRun, type: string) => {
    const found = find(run, type);
    assert.strictEqual(found.length, 1, `expected one ${type}, got ${found.length}`);
    return found[0].inputs;
};

describe("the program with the committed stack files", function () {
    let dev: OfflineRun;
    let prod: OfflineRun;
    const saved = { hub: process.env.HF_HUB_CACHE, cache: process.env.ML_LAMBDA_CACHE_DIR, exporter: process.env.ML_LAMBDA_EXPORT_PYTHON };
    const warnings: string[] = [];

    before(async () => {
        // dev and prod run the onnx backend on the model's own ONNX file: no torch on this host (an export would fail).
        process.env.ML_LAMBDA_EXPORT_PYTHON = NO_EXPORT_PYTHON;
        process.env.HF_HUB_CACHE = offlineHubCache();
        process.env.ML_LAMBDA_CACHE_DIR = TEST_CACHE;
        // The runtime warns through console.warn without an engine: keep what it says about the exports.
        const warn = console.warn;
        console.warn = (...a: unknown[]) => { warnings.push(a.join(" ")); warn(...a); };
        try {
            dev = await runOffline({ projectDir: REPO, stack: "dev", preview: false });
            prod = await runOffline({ projectDir: REPO, stack: "prod", preview: false });
        } finally {
            console.warn = warn;
        }
    });
    after(() => {
        for (const [k, v] of [["HF_HUB_CACHE", saved.hub], ["ML_LAMBDA_CACHE_DIR", saved.cache], ["ML_LAMBDA_EXPORT_PYTHON", saved.exporter]] as const) {
            if (v === undefined) delete process.env[k];
            else process.env[k] = v;
        }
    });

    it("Pulumi.yaml declares every per-stack key with the parser's type, default and description", () => {
        const project = YAML.parse(fs.readFileSync(path.join(REPO, "Pulumi.yaml"), "utf8"));
        assert.strictEqual(project.name, "ml-lambda");
        const declared = project.config as Record<string, { type: string; default: unknown; description: string }>;
        assert.deepStrictEqual(Object.keys(declared).sort(), STACK_CONFIG_KEYS.map((k) => k.key).sort());
        for (const k of STACK_CONFIG_KEYS) {
            assert.deepStrictEqual(declared[k.key], { type: k.type, default: k.default, description: k.description }, k.key);
        }
    });

    it("stack files only use declared keys", () => {
        for (const stack of ["dev", "prod"]) {
            const cfg = YAML.parse(fs.readFileSync(path.join(REPO, `Pulumi.${stack}.yaml`), "utf8")).config;
            for (const key of Object.keys(cfg).filter((k) => k.startsWith("ml-lambda:"))) {
                assert.ok(STACK_CONFIG_KEYS.some((s) => `ml-lambda:${s.key}` === key), `${stack}: ${key} is not declared`);
            }
        }
    });

    it("builds the complete graph for both stacks", () => {
        for (const run of [dev, prod]) {
            const types = new Set(run.resources.map((r) => r.type));
            for (const t of [
                "pulumi-ml-lambda:index:MlLambda", "aws:s3/bucket:Bucket", "aws:s3/bucketVersioning:BucketVersioning",
                "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "aws:s3/bucketPolicy:BucketPolicy",
                "aws:s3/bucketObjectv2:BucketObjectv2", "aws:cloudwatch/logGroup:LogGroup", "aws:iam/role:Role",
                "aws:iam/rolePolicy:RolePolicy", "aws:lambda/function:Function", "aws:lambda/alias:Alias",
                "aws:cloudwatch/metricAlarm:MetricAlarm", "aws:cloudwatch/queryDefinition:QueryDefinition",
            ]) assert.ok(types.has(t), `${run.stack.stack} lacks ${t}`);
        }
    });

    it("exports what a user needs, consistent with the graph", () => {
        for (const run of [dev, prod]) {
            const o = run.outputs as Record<string, any>;
            const fn = one(run, "aws:lambda/function:Function");
            assert.strictEqual(o.functionName, fn.name);
            assert.strictEqual(o.functionName, `ml-lambda-${run.stack.stack}-embeddings`);
            assert.match(o.functionArn, /^arn:aws:lambda:us-east-1:\d{12}:function:/);
            assert.match(o.aliasArn, /:live$/);
            assert.ok(["zip", "image"].includes(o.packaging));
            assert.strictEqual(fn.packageType, o.packaging === "zip" ? "Zip" : "Image");
            // Both stacks ship the ONNX model in a layer of its own (it fits): no model object, no modelKey output.
            assert.strictEqual(o.modelDelivery, "layer");
            assert.ok(!("modelKey" in o), "no modelKey key on the layer path (an undefined output draws a warning)");
            assert.ok(o.modelBucket);
            assert.strictEqual(o.sizeReport.mode, o.packaging);
            assert.ok(o.sizeReport.reasons.length > 0);
            if (o.packaging === "image") assert.match(o.imageUri, /@sha256:[0-9a-f]{64}$/);
            else assert.ok(!("imageUri" in o), "the zip path exports no imageUri key (an undefined output draws a warning)");
        }
    });

    it("dev exports its IAM-signed HTTPS endpoint (url on the live alias); prod, with no url, exports none", () => {
        const u = one(dev, "aws:lambda/functionUrl:FunctionUrl");
        assert.deepStrictEqual([u.qualifier, u.authorizationType, u.invokeMode], ["live", "AWS_IAM", "BUFFERED"]);
        assert.strictEqual(u.functionName, one(dev, "aws:lambda/function:Function").name);
        const devUrl = (dev.outputs as Record<string, any>).url;
        assert.strictEqual(devUrl, find(dev, "aws:lambda/functionUrl:FunctionUrl")[0].outputs.functionUrl);
        assert.match(devUrl, /^https:\/\/[a-z0-9]{32}\.lambda-url\.us-east-1\.on\.aws\/$/);
        assert.strictEqual(find(dev, "aws:lambda/permission:Permission").length, 0);
        assert.strictEqual(find(prod, "aws:lambda/functionUrl:FunctionUrl").length, 0);
        assert.ok(!("url" in (prod.outputs as object)), "no url key at all: an undefined stack output makes the engine warn");
    });

    it("exports no undefined value (the engine would warn that it will not show as a stack output)", () => {
        assert.deepStrictEqual(warnings.filter((w) => /Undefined value/.test(w)), []);
    });

    it("dev is small and cheap: one vCPU, SnapStart, a week of logs, destroyable data", () => {
        const fn = one(dev, "aws:lambda/function:Function");
        assert.strictEqual(fn.memorySize, 1769);
        assert.deepStrictEqual(fn.snapStart, { applyOn: "PublishedVersions" });
        assert.strictEqual(fn.reservedConcurrentExecutions, undefined);
        assert.strictEqual(one(dev, "aws:cloudwatch/logGroup:LogGroup").retentionInDays, 7);
        assert.strictEqual(one(dev, "aws:s3/bucket:Bucket").forceDestroy, true);
        assert.strictEqual(find(dev, "aws:appautoscaling/target:Target").length, 0);
    });

    it("dev and prod run the onnx backend on the zip path, the model shipped as its own published ONNX file", async () => {
        const devFn = one(dev, "aws:lambda/function:Function");
        assert.strictEqual(devFn.packageType, "Zip");
        assert.strictEqual(devFn.environment.variables.MODEL_BACKEND, "onnx");
        assert.strictEqual((dev.outputs as Record<string, any>).packaging, "zip");
        // The model ships as a layer of its own (its zip is over 50 MB: uploaded through the bucket), at /opt/ml/model.
        assert.strictEqual(devFn.environment.variables.MODEL_DIR, "/opt/ml/model");
        assert.ok(!find(dev, "aws:s3/bucketObjectv2:BucketObjectv2").some((r) => String(r.inputs.key).startsWith("models/")), "no model archive object");
        const layer = find(dev, "aws:lambda/layerVersion:LayerVersion").find((r) => String(r.inputs.layerName).endsWith("-model"));
        assert.ok(layer, "model layer");
        const obj = find(dev, "aws:s3/bucketObjectv2:BucketObjectv2").find((r) => r.inputs.key === layer.inputs.s3Key);
        assert.ok(obj, "the model layer's zip object");
        const zip: string = await obj.inputs.source.path; // a FileAsset: its path is a promise
        const entries = readZipEntries(zip).filter((e) => !e.isDirectory);
        const names = entries.map((e) => e.name.replace(/^ml\/model\//, ""));
        assert.ok(entries.every((e) => e.name.startsWith("ml/model/")), "everything under /opt/ml/model");
        for (const f of ["model.onnx", "tokenizer.json", "ml_lambda_onnx.json", "sentence_bert_config.json"]) assert.ok(names.includes(f), `${f} in ${names}`);
        assert.ok(!names.includes("model.safetensors"), "the torch weights stay out of the onnx artifact");
        const manifest = JSON.parse(readZipEntryData(zip, entries.find((e) => e.name === "ml/model/ml_lambda_onnx.json")!).toString("utf8"));
        assert.strictEqual(manifest.source.file, "onnx/model.onnx", "the repository's own graph, not a torch export");
        assert.ok(manifest.parity.cosine_min >= 0.999, JSON.stringify(manifest.parity));
        const prodFn = one(prod, "aws:lambda/function:Function");
        assert.strictEqual(prodFn.packageType, "Zip");
        assert.strictEqual(prodFn.environment.variables.MODEL_BACKEND, "onnx");
    });

    it("by measurement, the torch profile goes to the image path, torch named as the reason", async () => {
        // The same program and stack with the full sentence-transformers profile (5+ GB of wheels, built once, cached).
        const torch = await runOffline({ projectDir: REPO, stack: "dev", preview: false, configOverrides: { "ml-lambda:backend": "torch" } });
        const o = torch.outputs as Record<string, any>;
        assert.strictEqual(o.packaging, "image");
        // The layer measurement that ruled zip out is kept (and named in the reasons)...
        assert.ok(o.sizeReport.layerBytes > 262_144_000 * 10, `torch profile is ${o.sizeReport.layerBytes} bytes`);
        assert.match(o.sizeReport.reasons.join(" "), /heaviest: torch /);
        // ...but the report's figures are the image's: Lambda's image limit, and no image size under the mock
        // engine (no image is built there), never the zip limit's "available" bytes.
        assert.strictEqual(o.sizeReport.limitBytes, 10 * 1024 ** 3);
        assert.strictEqual(o.sizeReport.totalBytes, undefined);
        assert.strictEqual(o.sizeReport.availableBytes, undefined);
        assert.strictEqual(o.sizeReport.headroomBytes, undefined);
        assert.strictEqual(o.sizeReport.image.measured, false);
        assert.strictEqual(one(torch, "aws:lambda/function:Function").packageType, "Image");
        assert.match(o.imageUri, /@sha256:[0-9a-f]{64}$/);
    });

    it("prod is sized for traffic: 3008 MB, reserved + auto-scaled provisioned concurrency, 30-day logs, kept data", () => {
        const fn = one(prod, "aws:lambda/function:Function");
        assert.strictEqual(fn.memorySize, 3008);
        assert.strictEqual(fn.snapStart, undefined);
        assert.strictEqual(fn.reservedConcurrentExecutions, 50);
        assert.strictEqual(one(prod, "aws:cloudwatch/logGroup:LogGroup").retentionInDays, 30);
        assert.strictEqual(one(prod, "aws:s3/bucket:Bucket").forceDestroy, false);
        const target = one(prod, "aws:appautoscaling/target:Target");
        assert.deepStrictEqual([target.minCapacity, target.maxCapacity], [2, 20]);
        assert.strictEqual(one(prod, "aws:appautoscaling/policy:Policy").targetTrackingScalingPolicyConfiguration.targetValue, 0.7);
        assert.strictEqual(find(prod, "aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig").length, 0);
    });

    it("a stack file with a mistake fails before any resource, naming the setting", async () => {
        const dir = fs.mkdtempSync(path.join(REPO, ".cache", "badstack-"));
        try {
            for (const f of ["Pulumi.yaml", "index.ts", "config.ts"]) fs.copyFileSync(path.join(REPO, f), path.join(dir, f));
            fs.symlinkSync(path.join(REPO, "components"), path.join(dir, "components"));
            fs.writeFileSync(path.join(dir, "Pulumi.bad.yaml"), "config:\n  ml-lambda:memorySize: 20000\n");
            await assert.rejects(runOffline({ projectDir: dir, stack: "bad" }), /memorySize.*10240/);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});
