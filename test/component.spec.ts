import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { MlLambdaArgs } from "../components/args";
import { MlLambdaError } from "../components/errors";
import { dockerfileCopySources } from "../components/packaging/imageContext";
import * as iam from "../components/iam";
import { TAG_IMAGE_BYTES, TAG_PACKAGING, TAG_UNZIPPED_BYTES } from "../components/identity";
import { checkImageSize } from "../components/packaging/imageSize";
import { measureImageNow, MlLambda } from "../components/mlLambda";
import { formatZipSizeReport, imageBuildArgs, imageBuildWarnings, preparePackaging, sizeReport } from "../components/plan";
import { measureZip, readZipEntries, sourceDigest } from "../components/packaging";
import { bytecodeCompiler } from "../components/packaging/bytecode";
import { tmpDir as tmpDirFor } from "./packaging-helpers";
import { modelObjectKey } from "../components/model";
import { normalizeArgs } from "../components/validate";
import { fixtureArgs, MockSession, NO_EXPORT_PYTHON, offlineHubCache, settle, startMocks, TEST_CACHE, useTestExportPython, value } from "./mocks";

const FIX = path.join(__dirname, "fixtures", "component");

function args(extra: Partial<MlLambdaArgs> = {}): MlLambdaArgs {
    return {
        ...fixtureArgs(),
        ...extra,
    };
}

async function build(extra: Partial<MlLambdaArgs>, name = "embed"): Promise<{ m: MockSession; c: MlLambda }> {
    const m = await startMocks();
    const c = new MlLambda(name, args(extra), { transformations: [m.recordParents] });
    await settle(c.functionArn, c.aliasArn, c.modelKey, c.modelDelivery, c.imageUri, c.sizeReport);
    return { m, c };
}

const policyOf = (r: { inputs: Record<string, any> }) => JSON.parse(r.inputs.policy);

describe("MlLambda under Pulumi's mock engine", function () {
    describe("zip path, the model from S3 (modelDelivery \"s3\")", () => {
        let m: MockSession;
        let c: MlLambda;
        before(async () => ({ m, c } = await build({ packaging: "zip", modelDelivery: "s3", timeout: 50, logRetentionDays: 7 })));

        it("registers every child under the component", () => {
            assert.ok(m.resources.length >= 15, `only ${m.resources.length} resources`);
            const children = m.resources.filter((r) => r.type !== "pulumi-ml-lambda:index:MlLambda");
            assert.strictEqual(children.length, m.resources.length - 1);
            for (const r of children) assert.strictEqual(r.parentResource, c, `${r.type} ${r.name} is not parented to the component`);
        });

        it("registers what its build read (handler directory, requirements) with digests, relative to the program's directory", () => {
            const comp = m.one("pulumi-ml-lambda:index:MlLambda").inputs;
            const cfg = c.config;
            assert.deepStrictEqual(comp.buildSources.map((s: any) => [s.what, s.path, s.sha256]), [
                ["the function's code", path.relative(process.cwd(), cfg.handlerDir), sourceDigest(cfg.handlerDir, ["__pycache__", "*.pyc", "tests"])],
                ["the requirements file", path.relative(process.cwd(), cfg.requirements), sourceDigest(cfg.requirements)],
            ]);
            assert.ok(comp.buildSources.every((s: any) => !path.isAbsolute(s.path)), "no machine's absolute path in the state");
        });

        it("creates a private, encrypted, versioned, TLS-only model bucket", async () => {
            assert.deepStrictEqual(m.one("aws:s3/bucketVersioning:BucketVersioning").inputs.versioningConfiguration, { status: "Enabled" });
            const sse = m.one("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration").inputs;
            assert.strictEqual(sse.rules[0].applyServerSideEncryptionByDefault.sseAlgorithm, "AES256");
            const pab = m.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs;
            for (const k of ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"]) assert.strictEqual(pab[k], true, k);
            assert.strictEqual(m.one("aws:s3/bucketOwnershipControls:BucketOwnershipControls").inputs.rule.objectOwnership, "BucketOwnerEnforced");
            const bucketArn = `arn:aws:s3:::${await value(c.modelBucketName)}`;
            assert.deepStrictEqual(policyOf(m.one("aws:s3/bucketPolicy:BucketPolicy")), iam.denyInsecureTransportPolicy(bucketArn));
            assert.strictEqual(policyOf(m.one("aws:s3/bucketPolicy:BucketPolicy")).Statement[0].Condition.Bool["aws:SecureTransport"], "false");
        });

        it("uploads the model as an uncompressed tar under a content-addressed key that contains its sha256", async () => {
            const key = (await value(c.modelKey))!;
            assert.match(key, new RegExp(`^models/tiny/${c.plan.model.sha256}\\.tar$`));
            assert.match(c.plan.model.sha256, /^[0-9a-f]{64}$/);
            assert.strictEqual(await value(c.modelDelivery), "s3");
            const obj = m.byType("aws:s3/bucketObjectv2:BucketObjectv2").find((o) => o.inputs.key === key)!;
            assert.ok(obj, "model object");
            assert.strictEqual(obj.inputs.contentType, "application/x-tar");
            // A tar, not gzip: ustar magic at offset 257 of the first header.
            assert.strictEqual(fs.readFileSync(c.plan.model.archive).subarray(257, 262).toString(), "ustar");
            assert.ok(!c.plan.model.files.includes("README.md"), "docs are not shipped with the model");
        });

        it("grants the role exactly: its own log group, and read of the one model object", async () => {
            const fnName = c.config.functionName;
            const policies = m.byType("aws:iam/rolePolicy:RolePolicy").map(policyOf);
            const logGroupArn = `arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/${fnName}`;
            const bucket = await value(c.modelBucketName);
            assert.deepStrictEqual(policies, [
                { Version: "2012-10-17", Statement: [{ Sid: "WriteOwnLogs", Effect: "Allow", Action: ["logs:CreateLogStream", "logs:PutLogEvents"], Resource: `${logGroupArn}:*` }] },
                { Version: "2012-10-17", Statement: [{ Sid: "ReadModelArchive", Effect: "Allow", Action: "s3:GetObject", Resource: `arn:aws:s3:::${bucket}/${modelObjectKey(c.plan.model)}` }] },
            ]);
            for (const p of policies) for (const s of p.Statement) assert.ok(![s.Action].flat().some((a: string) => a.includes("*")), "no wildcard actions");
            assert.deepStrictEqual(JSON.parse(m.one("aws:iam/role:Role").inputs.assumeRolePolicy), iam.lambdaAssumeRolePolicy());
        });

        it("builds a zip function with the dependency layer and the MODEL_* environment", async () => {
            const fn = m.one("aws:lambda/function:Function").inputs;
            const layer = m.one("aws:lambda/layerVersion:LayerVersion").inputs;
            assert.strictEqual(fn.packageType, "Zip");
            assert.strictEqual(fn.runtime, "python3.12");
            assert.strictEqual(fn.handler, "app.handler.lambda_handler");
            assert.deepStrictEqual(fn.layers, [`arn:aws:lambda:us-east-1:123456789012:layer:${layer.layerName}:1`]);
            assert.deepStrictEqual(layer.compatibleRuntimes, ["python3.12"]);
            assert.strictEqual(layer.sourceCodeHash, c.plan.layer!.zipSha256);
            assert.strictEqual(fn.sourceCodeHash, c.plan.code.sha256);
            const report = await value(c.sizeReport);
            assert.ok(report.mode === "zip" && report.model.delivery === "s3" && report.model.s3Key === await value(c.modelKey));
            assert.strictEqual(report.totalBytes, c.plan.code.measurement.unzippedBytes + c.plan.layer!.measurement.unzippedBytes, "the model is not counted: it is not in the zips");
            const env = fn.environment.variables;
            assert.strictEqual(env.MODEL_BUCKET, await value(c.modelBucketName));
            assert.strictEqual(env.MODEL_KEY, await value(c.modelKey));
            assert.strictEqual(env.MODEL_SHA256, c.plan.model.sha256);
            assert.strictEqual(env.HF_HUB_OFFLINE, "1");
            assert.strictEqual(env.MODEL_DIR, undefined);
            assert.strictEqual(fn.imageUri, undefined);
            assert.strictEqual(await value(c.packaging), "zip");
            assert.strictEqual(await value(c.imageUri), undefined);
            assert.strictEqual(fn.tags[TAG_PACKAGING], "zip");
            assert.strictEqual(Number(fn.tags[TAG_UNZIPPED_BYTES]), c.plan.decision.totalBytes);
        });

        it("logs to /aws/lambda/<function> in JSON with the stack's retention and the seed's saved query", () => {
            const lg = m.one("aws:cloudwatch/logGroup:LogGroup").inputs;
            assert.strictEqual(lg.name, `/aws/lambda/${c.config.functionName}`);
            assert.strictEqual(lg.retentionInDays, 7);
            const fn = m.one("aws:lambda/function:Function").inputs;
            assert.strictEqual(fn.loggingConfig.logFormat, "JSON");
            assert.strictEqual(fn.loggingConfig.logGroup, lg.name);
            const q = m.one("aws:cloudwatch/queryDefinition:QueryDefinition").inputs;
            assert.deepStrictEqual(q.logGroupNames, [lg.name]);
            for (const f of ["durationMs", "initDurationMs", "maxMemoryUsedMB", "bin(5m)"]) assert.ok(q.queryString.includes(f), f);
        });

        it("alarms on errors, throttles and p99 duration above 80 % of the timeout", () => {
            const alarms = Object.fromEntries(m.byType("aws:cloudwatch/metricAlarm:MetricAlarm").map((a) => [a.inputs.metricName, a.inputs]));
            assert.deepStrictEqual(Object.keys(alarms).sort(), ["Duration", "Errors", "Throttles"]);
            assert.strictEqual(alarms.Duration.extendedStatistic, "p99");
            assert.strictEqual(alarms.Duration.threshold, 40_000);
            assert.strictEqual(alarms.Errors.threshold, 1);
        });

        it("publishes a version and points the live alias at it; no concurrency settings by default", () => {
            const fn = m.one("aws:lambda/function:Function").inputs;
            assert.strictEqual(fn.publish, true);
            assert.strictEqual(fn.reservedConcurrentExecutions, undefined);
            assert.strictEqual(fn.snapStart, undefined);
            const alias = m.one("aws:lambda/alias:Alias").inputs;
            assert.strictEqual(alias.name, "live");
            assert.strictEqual(alias.functionVersion, "1");
            assert.strictEqual(m.byType("aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig").length, 0);
            assert.strictEqual(m.byType("aws:appautoscaling/target:Target").length, 0);
        });

        it("creates no ECR repository or image", () => {
            assert.strictEqual(m.byType("aws:ecr/repository:Repository").length, 0);
            assert.strictEqual(m.byType("docker:index/image:Image").length, 0);
        });
    });

    describe("zip path, the model in a layer of its own (modelDelivery \"auto\": it fits)", () => {
        let m: MockSession;
        let c: MlLambda;
        before(async () => ({ m, c } = await build({ packaging: "zip" }, "embedlayer")));
        const layers = () => m.byType("aws:lambda/layerVersion:LayerVersion");
        const modelLayerRes = () => layers().find((l) => l.inputs.layerName.endsWith("-model"))!;

        it("publishes the model as a second layer, unpacked at /opt/ml/model, and points MODEL_DIR at it", async () => {
            const fn = m.one("aws:lambda/function:Function").inputs;
            assert.deepStrictEqual(layers().map((l) => l.inputs.layerName), [`${c.config.functionName}-deps`, `${c.config.functionName}-model`]);
            assert.deepStrictEqual(fn.layers, layers().map((l) => `arn:aws:lambda:us-east-1:123456789012:layer:${l.inputs.layerName}:1`), "deps, then the model");
            const ml = modelLayerRes().inputs;
            assert.strictEqual(ml.sourceCodeHash, c.plan.modelLayer!.zipSha256);
            const names = readZipEntries(c.plan.modelLayer!.zipPath).filter((e) => !e.isDirectory).map((e) => e.name);
            assert.deepStrictEqual(names, c.plan.model.files.map((f) => `ml/model/${f}`).sort());
            const env = fn.environment.variables;
            assert.strictEqual(env.MODEL_DIR, "/opt/ml/model");
            for (const k of ["MODEL_BUCKET", "MODEL_KEY", "MODEL_SHA256"]) assert.strictEqual(env[k], undefined, k);
            assert.strictEqual(await value(c.modelDelivery), "layer");
        });

        it("uploads no model object and grants no S3 read at all; the bucket stays (for zips over 50 MB)", async () => {
            assert.strictEqual(await value(c.modelKey), undefined);
            assert.ok(!m.byType("aws:s3/bucketObjectv2:BucketObjectv2").some((o) => String(o.inputs.key).startsWith("models/")), "no model archive");
            const actions = m.byType("aws:iam/rolePolicy:RolePolicy").flatMap((r) => policyOf(r).Statement.flatMap((s: any) => [s.Action].flat()));
            assert.deepStrictEqual(actions, ["logs:CreateLogStream", "logs:PutLogEvents"]);
            assert.strictEqual(m.byType("aws:s3/bucket:Bucket").length, 1);
        });

        it("counts the model against the limit and reports its bytes and where it went", async () => {
            const report = await value(c.sizeReport);
            assert.ok(report.mode === "zip");
            assert.strictEqual(report.model.delivery, "layer");
            assert.strictEqual(report.model.dir, "/opt/ml/model");
            assert.strictEqual(report.model.unzippedBytes, measureZip(c.plan.modelLayer!.zipPath).unzippedBytes);
            assert.strictEqual(report.totalBytes, measureZip(c.plan.code.zipPath).unzippedBytes + measureZip(c.plan.layer!.zipPath).unzippedBytes + report.model.unzippedBytes);
            assert.strictEqual(report.layerCount, 2);
            assert.strictEqual(Number(m.one("aws:lambda/function:Function").inputs.tags[TAG_UNZIPPED_BYTES]), report.totalBytes);
            assert.strictEqual(report.deliveryOptions.length, 4);
            assert.match(report.reasons.join("\n"), /model \([\d,]+ bytes unzipped\) in its own layer at \/opt\/ml\/model/);
            const table = formatZipSizeReport(report);
            assert.match(table, /model layer \(\/opt\/ml\/model\)/);
            assert.match(table, /-> model in a layer/);
        });

        it("ships bytecode in the code zip and the layer, compiled with the runtime's Python", function () {
            if (!bytecodeCompiler("python3.12").ok) this.skip();
            const report = c.plan.bytecode!;
            assert.strictEqual(report.shipped, true);
            assert.match(report.python!, /^3\.12\./);
            const code = readZipEntries(c.plan.code.zipPath).map((e) => e.name);
            assert.ok(code.some((n) => /^app\/__pycache__\/handler\.cpython-312\.pyc$/.test(n)), code.join(", "));
            assert.ok(c.plan.layer!.bytecode, "the layer deployed is the bytecode variant");
            assert.ok(readZipEntries(c.plan.layer!.zipPath).some((e) => /^python\/.*__pycache__\/.*\.cpython-312\.pyc$/.test(e.name)));
            assert.strictEqual(m.one("aws:lambda/function:Function").inputs.sourceCodeHash, c.plan.code.sha256);
        });

        it("reuses the model's layer across code changes: the same zip, the same sourceCodeHash", async () => {
            const handler = path.join(tmpDirFor("handler2"), "src");
            fs.cpSync(path.join(FIX, "handler"), handler, { recursive: true });
            fs.appendFileSync(path.join(handler, "app", "handler.py"), "\n# a code change\n");
            const other = await build({ packaging: "zip", handlerDir: handler }, "embedlayer");
            const otherModel = other.m.byType("aws:lambda/layerVersion:LayerVersion").find((l) => l.inputs.layerName.endsWith("-model"))!;
            assert.notStrictEqual(other.c.plan.code.sha256, c.plan.code.sha256);
            assert.strictEqual(otherModel.inputs.sourceCodeHash, modelLayerRes().inputs.sourceCodeHash);
        });

        it("bytecode: false ships none (the layer and the code as sources)", async () => {
            const { c: plain } = await build({ packaging: "zip", bytecode: false }, "embedplain");
            assert.strictEqual(plain.plan.bytecode!.shipped, false);
            assert.match(plain.plan.bytecode!.why!, /bytecode: false/);
            assert.strictEqual(plain.plan.layer!.bytecode, undefined);
            assert.ok(!readZipEntries(plain.plan.code.zipPath).some((e) => e.name.endsWith(".pyc")));
            assert.strictEqual(plain.plan.delivery!.label, "model in a layer, no bytecode");
        });

        it("no interpreter for the runtime: builds without bytecode and warns, naming ML_LAMBDA_RUNTIME_PYTHON and what it costs", async () => {
            const saved = process.env.ML_LAMBDA_RUNTIME_PYTHON;
            process.env.ML_LAMBDA_RUNTIME_PYTHON = "/nonexistent/python3.12";
            try {
                const { c: none } = await build({ packaging: "zip" }, "embednopy");
                assert.strictEqual(none.plan.bytecode!.shipped, false);
                assert.strictEqual(none.plan.delivery!.model, "layer");
                const w = none.plan.warnings.join("\n");
                assert.match(w, /no bytecode in the layer and code zip: ML_LAMBDA_RUNTIME_PYTHON=\/nonexistent\/python3\.12 does not run/);
                assert.match(w, /\d+ ms more to the first response as measured/);
                assert.match(w, /Set ML_LAMBDA_RUNTIME_PYTHON to a python3\.12 executable/);
            } finally {
                if (saved === undefined) delete process.env.ML_LAMBDA_RUNTIME_PYTHON;
                else process.env.ML_LAMBDA_RUNTIME_PYTHON = saved;
            }
        });

        it("a forced model layer that cannot fit is refused before any resource, naming the bytes over and the fix", async () => {
            const least = await build({ packaging: "zip", modelDelivery: "s3", bytecode: false }, "least");
            const m2 = await startMocks();
            // Room for code + the dependency layer, not one byte more: the model's layer cannot fit.
            const big = [{ arn: "arn:aws:lambda:us-east-1:123456789012:layer:big:1", unzippedBytes: least.c.plan.decision.availableBytes - least.c.plan.decision.totalBytes }];
            assert.throws(() => new MlLambda("forcedlayer", args({ packaging: "zip", modelDelivery: "layer", layers: big })),
                (e: unknown) => e instanceof MlLambdaError && e.setting === "modelDelivery" && /does not fit beside code \+ layers/.test(e.message) && /Fix: use modelDelivery "auto" or "s3"/.test(e.message));
            // auto with the same layers: the model goes to S3 instead.
            const { c: auto } = await build({ packaging: "zip", layers: big }, "autos3");
            assert.strictEqual(auto.plan.delivery!.model, "s3");
            await new Promise((r) => setTimeout(r, 20));
            assert.strictEqual(m2.resources.length, 0);
        });

        it("modelDelivery on the image path is refused: the image bakes the model", () => {
            assert.throws(() => normalizeArgs("x", args({ packaging: "image", modelDelivery: "s3" }), { project: "p", stack: "s" }),
                /Invalid "modelDelivery" = "s3": the image path bakes the model into the image/);
            assert.throws(() => normalizeArgs("x", args({ bytecode: "yes" as unknown as boolean }), { project: "p", stack: "s" }), /Invalid "bytecode" = "yes"/);
        });
    });

    describe("image path", () => {
        let m: MockSession;
        let c: MlLambda;
        before(async () => ({ m, c } = await build({ packaging: "image", architecture: "arm64", forceDestroy: true, imageRetentionCount: 7 }, "embedimg")));

        it("creates an immutable, scanned ECR repository with a lifecycle rule", () => {
            const repo = m.one("aws:ecr/repository:Repository").inputs;
            assert.strictEqual(repo.imageTagMutability, "IMMUTABLE");
            assert.deepStrictEqual(repo.imageScanningConfiguration, { scanOnPush: true });
            assert.strictEqual(repo.forceDelete, true);
            const lc = JSON.parse(m.one("aws:ecr/lifecyclePolicy:LifecyclePolicy").inputs.policy);
            assert.strictEqual(lc.rules[0].selection.countNumber, 7);
        });

        it("builds one platform matching the architecture from the staged context", () => {
            const img = m.one("docker:index/image:Image").inputs;
            assert.strictEqual(img.build.platform, "linux/arm64");
            assert.strictEqual(img.build.args.PYTHON_VERSION, "3.12");
            assert.strictEqual(img.build.context, c.plan.context!.dir);
            const dockerfile = fs.readFileSync(path.join(img.build.context, "Dockerfile"), "utf8");
            for (const src of dockerfileCopySources(dockerfile)) {
                assert.ok(fs.existsSync(path.join(img.build.context, src)), `context lacks ${src}, which the Dockerfile COPYs`);
            }
            assert.ok(fs.existsSync(path.join(img.build.context, "model", "model.safetensors")), "model baked from the context");
        });

        it("stages the context with the modes the image needs (COPY keeps them; no chmod layer in the Dockerfile)", () => {
            const dir = c.plan.context!.dir;
            const modeOf = (p: string) => fs.statSync(p).mode & 0o777;
            const walk = (d: string): string[] => fs.readdirSync(d, { withFileTypes: true })
                .flatMap((e) => (e.isDirectory() ? [path.join(d, e.name), ...walk(path.join(d, e.name))] : [path.join(d, e.name)]));
            const all = walk(dir);
            assert.ok(all.length > 5);
            for (const p of all) {
                const rel = path.relative(dir, p);
                const want = fs.statSync(p).isDirectory() ? 0o755 : rel.startsWith(`model${path.sep}`) ? 0o444 : 0o644;
                assert.strictEqual(modeOf(p).toString(8), want.toString(8), rel);
            }
            assert.strictEqual(modeOf(dir).toString(8), "755");
        });

        it("pins the function to the image digest, never a tag, with the model at a fixed path", async () => {
            const fn = m.one("aws:lambda/function:Function").inputs;
            assert.strictEqual(fn.packageType, "Image");
            assert.match(fn.imageUri, /^123456789012\.dkr\.ecr\.us-east-1\.amazonaws\.com\/[a-z0-9-]+@sha256:[0-9a-f]{64}$/);
            assert.strictEqual(await value(c.imageUri), fn.imageUri);
            assert.deepStrictEqual(fn.architectures, ["arm64"]);
            assert.strictEqual(fn.environment.variables.MODEL_DIR, "/opt/ml/model");
            assert.strictEqual(fn.environment.variables.MODEL_BUCKET, undefined);
            assert.strictEqual(fn.runtime, undefined);
            assert.strictEqual(fn.layers, undefined);
            assert.strictEqual(m.byType("aws:lambda/layerVersion:LayerVersion").length, 0);
        });

        it("reports the image against Lambda's image limit and tags no zip figure (issue 11, defect 5)", async () => {
            const report = (await value(c.sizeReport)) as any;
            assert.strictEqual(report.mode, "image");
            assert.strictEqual(report.limitBytes, 10 * 1024 ** 3);
            for (const zipFigure of ["availableBytes", "headroomBytes", "totalBytes", "layerCount"]) assert.strictEqual(report[zipFigure], undefined, zipFigure);
            // Under the mock engine no image is built, and the report says when it will be measured.
            assert.strictEqual(report.image.measured, false);
            assert.match(report.image.note, /measured at `pulumi up` when a Docker engine answers/);
            const fn = m.one("aws:lambda/function:Function").inputs;
            assert.strictEqual(fn.tags[TAG_PACKAGING], "image");
            assert.strictEqual(fn.tags[TAG_UNZIPPED_BYTES], undefined);
            assert.strictEqual(fn.tags[TAG_IMAGE_BYTES], undefined);
        });

        it("a measured image is reported by its own size, and one over 10 GiB is refused before anything is pushed", () => {
            const measured = { uncompressedBytes: 633_435_838, layers: [{ createdBy: "(base image)", bytes: 341_323_352 }, { createdBy: "RUN install_deps.py", bytes: 292_112_486 }], imageId: "sha256:x", measuredWith: "Docker 20.10.24, BuildKit" };
            const report = sizeReport({ ...c.plan, image: measured }) as any;
            assert.strictEqual(report.totalBytes, 633_435_838);
            assert.strictEqual(report.image.availableBytes, 10 * 1024 ** 3 - 633_435_838);
            assert.throws(() => checkImageSize({ ...measured, uncompressedBytes: 10 * 1024 ** 3 + 1 }), /over Lambda's 10,737,418,240-byte container image limit/);
        });

        it("builds with AWS's base image and the PyTorch CPU index unless mirrors are named", () => {
            assert.deepStrictEqual(imageBuildArgs(c.config, {}), { PYTHON_VERSION: "3.12" });
            assert.deepStrictEqual(imageBuildArgs(c.config, { ML_LAMBDA_BASE_IMAGE: "mirror/lambda-python:3.12", ML_LAMBDA_TORCH_INDEX_URL: "https://mirror/whl/cpu" }),
                { PYTHON_VERSION: "3.12", BASE_IMAGE: "mirror/lambda-python:3.12", TORCH_INDEX_URL: "https://mirror/whl/cpu" });
        });

        it("measures only on `pulumi up` against a real engine (never under the mock engine), unless forced", () => {
            assert.strictEqual(measureImageNow({}), false);
            assert.strictEqual(measureImageNow({ ML_LAMBDA_MEASURE_IMAGE: "1" }), true);
        });

        it("without a Docker engine, measuring fails naming Docker and the fix", function () {
            this.timeout(60_000);
            const saved = process.env.DOCKER_HOST;
            process.env.DOCKER_HOST = "unix:///nonexistent/docker.sock";
            try {
                assert.throws(() => preparePackaging(c.config, { measureImage: true }), (e: any) => {
                    assert.strictEqual(e.name, "MlLambdaError");
                    assert.match(e.message, /needs a Docker engine, and none answers \(no Docker engine answers at unix:\/\/\/nonexistent\/docker\.sock/);
                    assert.match(e.message, /Fix: start Docker/);
                    return true;
                });
            } finally {
                if (saved === undefined) delete process.env.DOCKER_HOST;
                else process.env.DOCKER_HOST = saved;
            }
        });

        it("gives the image function no S3 access at all", () => {
            const actions = m.byType("aws:iam/rolePolicy:RolePolicy").flatMap((r) => policyOf(r).Statement.flatMap((s: any) => [s.Action].flat()));
            assert.deepStrictEqual(actions, ["logs:CreateLogStream", "logs:PutLogEvents"]);
        });
    });

    describe("concurrency and SnapStart", () => {
        it("static provisioned concurrency goes on the live alias, with reserved concurrency on the function", async () => {
            const { m } = await build({ packaging: "zip", reservedConcurrency: 10, provisionedConcurrency: 3 });
            const pc = m.one("aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig").inputs;
            assert.strictEqual(pc.qualifier, "live");
            assert.strictEqual(pc.provisionedConcurrentExecutions, 3);
            assert.strictEqual(m.one("aws:lambda/function:Function").inputs.reservedConcurrentExecutions, 10);
            assert.strictEqual(m.byType("aws:appautoscaling/target:Target").length, 0);
        });

        it("auto scaling uses Application Auto Scaling target tracking (target 0.7 by default), never a static config beside it", async () => {
            const { m, c } = await build({ packaging: "zip", provisionedConcurrency: { min: 2, max: 8 } });
            const t = m.one("aws:appautoscaling/target:Target").inputs;
            assert.strictEqual(t.scalableDimension, "lambda:function:ProvisionedConcurrency");
            assert.strictEqual(t.serviceNamespace, "lambda");
            assert.strictEqual(t.resourceId, `function:${c.config.functionName}:live`);
            assert.deepStrictEqual([t.minCapacity, t.maxCapacity], [2, 8]);
            const p = m.one("aws:appautoscaling/policy:Policy").inputs;
            assert.strictEqual(p.policyType, "TargetTrackingScaling");
            assert.strictEqual(p.targetTrackingScalingPolicyConfiguration.targetValue, 0.7);
            assert.strictEqual(p.targetTrackingScalingPolicyConfiguration.predefinedMetricSpecification.predefinedMetricType, "LambdaProvisionedConcurrencyUtilization");
            assert.strictEqual(m.byType("aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig").length, 0);
        });

        it("SnapStart applies to published versions", async () => {
            const { m } = await build({ packaging: "zip", snapStart: true });
            assert.deepStrictEqual(m.one("aws:lambda/function:Function").inputs.snapStart, { applyOn: "PublishedVersions" });
        });
    });

    describe("the HTTPS endpoint (url)", () => {
        const URL_TYPE = "aws:lambda/functionUrl:FunctionUrl";
        const PERMISSION = "aws:lambda/permission:Permission";

        it("none by default: no FunctionUrl, no Permission, and no url output", async () => {
            const { m, c } = await build({ packaging: "zip" });
            assert.strictEqual(m.byType(URL_TYPE).length, 0);
            assert.strictEqual(m.byType(PERMISSION).length, 0);
            assert.strictEqual(c.url, undefined);
        });

        it("AWS_IAM (the default): a function URL on the live alias, buffered, no resource-based permission", async () => {
            const { m, c } = await build({ packaging: "zip", url: {} });
            const u = m.one(URL_TYPE);
            assert.strictEqual(u.inputs.functionName, c.config.functionName);
            assert.strictEqual(u.inputs.qualifier, "live");
            assert.strictEqual(u.inputs.qualifier, m.one("aws:lambda/alias:Alias").inputs.name);
            assert.strictEqual(u.inputs.authorizationType, "AWS_IAM");
            assert.strictEqual(u.inputs.invokeMode, "BUFFERED");
            assert.strictEqual(u.inputs.cors, undefined);
            assert.strictEqual(u.parentResource, c);
            assert.strictEqual(m.byType(PERMISSION).length, 0, "same-account IAM callers need no resource-based statement");
            const url = await value(c.url!);
            assert.strictEqual(url, u.outputs.functionUrl);
            assert.match(url, /^https:\/\/[a-z0-9]{32}\.lambda-url\.us-east-1\.on\.aws\/$/);
        });

        it("NONE: both public grants (InvokeFunctionUrl with auth type NONE, InvokeFunction only via a URL) on the alias, registered before the URL", async () => {
            const cors = { allowOrigins: ["https://app.example.com"], allowMethods: ["POST"], allowHeaders: ["content-type"], maxAge: 300 };
            const m = await startMocks();
            let urlDependsOn: unknown;
            const c = new MlLambda("embed", args({ packaging: "zip", reservedConcurrency: 20, url: { authType: "NONE", cors } }), {
                transformations: [m.recordParents, (a) => {
                    if (a.type === URL_TYPE) urlDependsOn = a.opts.dependsOn;
                    return undefined;
                }],
            });
            await settle(c.functionArn, c.aliasArn, c.url!);
            const u = m.one(URL_TYPE);
            assert.strictEqual(u.inputs.authorizationType, "NONE");
            assert.deepStrictEqual(u.inputs.cors, cors);
            const grants = Object.fromEntries(m.byType(PERMISSION).map((p) => [p.inputs.statementId, p.inputs]));
            assert.deepStrictEqual(Object.keys(grants).sort(), ["FunctionURLAllowInvokeAction", "FunctionURLAllowPublicAccess"]);
            assert.deepStrictEqual(grants.FunctionURLAllowPublicAccess, {
                function: c.config.functionName, qualifier: "live", statementId: "FunctionURLAllowPublicAccess",
                action: "lambda:InvokeFunctionUrl", principal: "*", functionUrlAuthType: "NONE",
            });
            assert.deepStrictEqual(grants.FunctionURLAllowInvokeAction, {
                function: c.config.functionName, qualifier: "live", statementId: "FunctionURLAllowInvokeAction",
                action: "lambda:InvokeFunction", principal: "*", invokedViaFunctionUrl: true,
            });
            // dependsOn both grants: they exist before the URL is created (the provider's own AddPermission on create
            // then finds them), and the URL is deleted before they go.
            const deps = [urlDependsOn].flat() as pulumi.Resource[];
            assert.strictEqual(deps.length, 2);
            const depNames = await Promise.all(deps.map((d) => value(d.urn)));
            assert.deepStrictEqual(depNames.map((u) => u.split("::").pop()).sort(), ["embed-url-invoke", "embed-url-public"]);
            const order = m.resources.map((r) => r.type);
            assert.ok(order.indexOf(URL_TYPE) > order.lastIndexOf(PERMISSION), order.join(", "));
            for (const p of m.byType(PERMISSION)) assert.strictEqual(p.parentResource, c);
            assert.match(await value(c.url!), /lambda-url/);
            assert.deepStrictEqual(c.config.warnings, [], "no cost warning with reservedConcurrency set");
        });

        it("NONE needs an @pulumi/aws whose Permission passes invokedViaFunctionUrl (an older one would drop it silently)", () => {
            assert.strictEqual(iam.permissionScopesToFunctionUrls(aws.lambda.Permission), true, "the pinned @pulumi/aws has it");
            class OldPermission {
                constructor(_name: string, args: any) {
                    const resourceInputs: Record<string, unknown> = {};
                    resourceInputs["action"] = args?.action;
                    resourceInputs["functionUrlAuthType"] = args?.functionUrlAuthType;
                }
            }
            assert.strictEqual(iam.permissionScopesToFunctionUrls(OldPermission), false);
        });

        it("NONE without reservedConcurrency warns that anyone can run up the bill", () => {
            const cfg = normalizeArgs("embed", args({ url: { authType: "NONE" } }), { project: "p", stack: "s" });
            assert.match(cfg.warnings.join(" "), /"NONE": anyone .* reservedConcurrency/);
        });

        it("the image path gets the same URL on its alias", async () => {
            const { m } = await build({ packaging: "image", url: { authType: "AWS_IAM" } }, "embedimgurl");
            assert.strictEqual(m.one(URL_TYPE).inputs.qualifier, "live");
            assert.strictEqual(m.one("aws:lambda/function:Function").inputs.packageType, "Image");
        });

        it("a bad url is refused before any resource is registered", async () => {
            const m = await startMocks();
            assert.throws(() => new MlLambda("badurl", args({ url: { authType: "PUBLIC" as "NONE" } })),
                (e: unknown) => e instanceof MlLambdaError && /url\.authType/.test(e.message) && /"PUBLIC"/.test(e.message));
            await new Promise((r) => setTimeout(r, 20));
            assert.strictEqual(m.resources.length, 0);
        });
    });

    describe("an existing model bucket", () => {
        it("creates no bucket and scopes the read grant to the object in the given bucket", async () => {
            const { m, c } = await build({ packaging: "zip", modelBucket: "team-models", modelDelivery: "s3" });
            assert.strictEqual(m.byType("aws:s3/bucket:Bucket").length, 0);
            assert.strictEqual(m.byType("aws:s3/bucketPolicy:BucketPolicy").length, 0);
            assert.strictEqual(await value(c.modelBucketName), "team-models");
            const read = m.byType("aws:iam/rolePolicy:RolePolicy").map(policyOf).find((p) => p.Statement[0].Sid === "ReadModelArchive")!;
            assert.strictEqual(read.Statement[0].Resource, `arn:aws:s3:::team-models/${modelObjectKey(c.plan.model)}`);
        });
    });

    describe("packaging \"auto\" with a dependency that has no wheel for Lambda", () => {
        const sdist = path.join(__dirname, "fixtures", "requirements-sdist-only.txt");

        it("goes to the image path, naming the package, and warns that the image build must compile it", async () => {
            const { m, c } = await build({ packaging: "auto", requirements: sdist });
            assert.strictEqual(await value(c.packaging), "image");
            assert.match(c.plan.decision.reasons.join(" "), /docopt/);
            assert.strictEqual(m.one("aws:lambda/function:Function").inputs.packageType, "Image");
            assert.match(imageBuildWarnings(c.config, c.plan).join(" "), /no python3\.12 x86_64 wheel for docopt/);
        });

        it("forced zip is refused before any resource, naming the package and the fix", async () => {
            const m = await startMocks();
            assert.throws(() => new MlLambda("forced", args({ packaging: "zip", requirements: sdist })),
                (e: unknown) => e instanceof MlLambdaError && /docopt/.test(e.message) && /Fix:/.test(e.message));
            await new Promise((r) => setTimeout(r, 20));
            assert.strictEqual(m.resources.length, 0);
        });

        it("a zip decision carries no image-build warning", async () => {
            const { c } = await build({ packaging: "auto" });
            assert.strictEqual(c.plan.decision.mode, "zip");
            assert.deepStrictEqual(imageBuildWarnings(c.config, c.plan), []);
        });
    });

    describe("a layer zip over the 50 MB direct-upload limit", () => {
        it("goes through an S3 object in the model bucket (scikit-learn + hdbscan: ~61 MB zipped, ~198 MB unzipped)", async () => {
            const { m, c } = await build({ packaging: "auto", requirements: path.join(__dirname, "fixtures", "requirements-sklearn-hdbscan.txt") });
            assert.strictEqual(c.plan.decision.mode, "zip");
            assert.ok(c.plan.layer!.zipBytes > 50 * 1024 * 1024, `layer zip is ${c.plan.layer!.zipBytes} bytes`);
            const layer = m.byType("aws:lambda/layerVersion:LayerVersion").find((l) => l.inputs.layerName.endsWith("-deps"))!.inputs;
            assert.strictEqual(layer.code, undefined, "no direct upload");
            const hex = Buffer.from(c.plan.layer!.zipSha256, "base64").toString("hex");
            assert.strictEqual(layer.s3Key, `artifacts/${c.config.functionName}/deps-${hex}.zip`);
            assert.strictEqual(layer.s3Bucket, await value(c.modelBucketName));
            const obj = m.byType("aws:s3/bucketObjectv2:BucketObjectv2").find((o) => o.inputs.key === layer.s3Key);
            assert.ok(obj, "the layer zip is uploaded as an object");
            // The small code zip still goes directly.
            assert.ok(m.one("aws:lambda/function:Function").inputs.code, "code zip uploaded directly");
        });
    });

    describe("both directions: the decision follows the measurement on every run", () => {
        it("over the limit → image; once the extra weight is gone → back to zip", async () => {
            const heavy = { arn: "arn:aws:lambda:us-east-1:123456789012:layer:big:1", unzippedBytes: 262_000_000 };
            const first = await build({ packaging: "auto", layers: [heavy] });
            assert.strictEqual(await value(first.c.packaging), "image");
            assert.match(first.c.plan.decision.reasons.join(" "), /over/);
            const second = await build({ packaging: "auto", layers: [] });
            assert.strictEqual(await value(second.c.packaging), "zip");
            assert.strictEqual(second.m.one("aws:lambda/function:Function").inputs.packageType, "Zip");
        });

        it("an external layer's declared size counts: exactly at the available bytes fits, one more byte does not", async () => {
            // The zip path's least: the model from S3, no bytecode (more bytes only move the model out, see below).
            const least = { packaging: "auto" as const, headroomBytes: 0, modelDelivery: "s3" as const, bytecode: false };
            const probe = await build(least);
            const own = probe.c.plan.decision.totalBytes;
            const layerOf = (n: number) => [{ arn: "arn:aws:lambda:us-east-1:123456789012:layer:ext:1", unzippedBytes: n }];
            const fits = await build({ ...least, layers: layerOf(262_144_000 - own) });
            assert.strictEqual(fits.c.plan.decision.mode, "zip");
            assert.strictEqual(fits.c.plan.decision.totalBytes, 262_144_000);
            // With delivery "auto" the same external layer leaves no room for the model's layer: it comes from S3.
            const auto = await build({ packaging: "auto", headroomBytes: 0, bytecode: false, layers: layerOf(262_144_000 - own) });
            assert.deepStrictEqual([auto.c.plan.decision.mode, auto.c.plan.delivery!.model], ["zip", "s3"]);
            // A forced delivery cannot be honoured on the image path: refused, naming why the function went there.
            await startMocks();
            assert.throws(() => new MlLambda("forceds3", args({ ...least, layers: layerOf(262_144_000 - own + 1) })),
                /Invalid "modelDelivery" = "s3": the function goes to the image path \(code \+ layers unzipped = 262,144,001 bytes.*1 bytes over/);
            const over = await build({ packaging: "auto", headroomBytes: 0, bytecode: false, layers: layerOf(262_144_000 - own + 1) });
            assert.strictEqual(over.c.plan.decision.mode, "image");
            assert.match(over.c.plan.decision.reasons.join(" "), /external layer\(s\) 250\.0 MiB/, "the reason names the external layer's weight");
        });
    });

    describe("the onnx backend (its model exported to ONNX at build time)", function () {
        // A real tiny BERT (the stand-in tiny-model cannot be exported), exported with the test venv's torch; the
        // export is cached by content under TEST_CACHE, so only the first run pays its ~6 s.
        this.timeout(300_000);
        const TINY_BERT = path.join(__dirname, "fixtures", "tiny-bert");
        let restore: () => void;
        before(() => { restore = useTestExportPython(); });
        after(() => restore());

        it("zip path: MODEL_BACKEND=onnx, and the S3 model object is the export, not the torch weights", async () => {
            const { m, c } = await build({ backend: "onnx", modelDelivery: "s3", model: { path: TINY_BERT, name: "tiny-bert" } });
            assert.strictEqual(c.plan.decision.mode, "zip");
            assert.strictEqual(c.plan.model.backend, "onnx");
            assert.ok(c.plan.model.files.includes("model.onnx") && !c.plan.model.files.includes("model.safetensors"));
            assert.ok(c.plan.model.export!.parity.cosine_min >= 0.999);
            const fn = m.one("aws:lambda/function:Function").inputs;
            assert.strictEqual(fn.environment.variables.MODEL_BACKEND, "onnx");
            assert.strictEqual(fn.environment.variables.MODEL_SHA256, c.plan.model.sha256);
            assert.strictEqual(await value(c.modelKey), `models/tiny-bert/${c.plan.model.sha256}.tar`);
        });

        it("image path: the export is what the image bakes in", async () => {
            const { c } = await build({ backend: "onnx-int8", packaging: "image", model: { path: TINY_BERT, name: "tiny-bert" } });
            assert.strictEqual(c.plan.decision.mode, "image");
            const baked = path.join(c.plan.context!.dir, "model");
            assert.ok(fs.existsSync(path.join(baked, "model.onnx")) && !fs.existsSync(path.join(baked, "model.safetensors")));
            assert.strictEqual(JSON.parse(fs.readFileSync(path.join(baked, "ml_lambda_onnx.json"), "utf8")).backend, "onnx-int8");
        });
    });

    describe("with no arguments (the README's `new MlLambda(\"search\", {})`)", function () {
        // The default model (pinned revision) from the offline stand-in of the hub cache, the bundled function, the
        // default backend. No export Python exists: had the build needed torch, it would fail.
        this.timeout(600_000);
        const saved = { ...process.env };
        let m: MockSession;
        let c: MlLambda;
        before(async () => {
            process.env.HF_HUB_CACHE = offlineHubCache();
            process.env.ML_LAMBDA_CACHE_DIR = TEST_CACHE;
            process.env.ML_LAMBDA_EXPORT_PYTHON = NO_EXPORT_PYTHON;
            m = await startMocks();
            c = new MlLambda("search", {}, { transformations: [m.recordParents] });
            await settle(c.functionArn, c.aliasArn, c.modelKey, c.sizeReport);
        });
        after(() => { process.env = { ...saved }; });

        it("plans zip + layer with the onnx backend, by measurement, on the model's own ONNX file: no torch", async () => {
            assert.strictEqual(c.config.backend, "onnx");
            assert.strictEqual(c.config.packaging, "auto");
            assert.strictEqual(c.plan.decision.mode, "zip", c.plan.decision.reasons.join(" "));
            assert.ok(c.plan.decision.totalBytes < 262_144_000 - 5 * 1024 * 1024, String(c.plan.decision.totalBytes));
            assert.strictEqual(await value(c.packaging), "zip");
            const fn = m.one("aws:lambda/function:Function").inputs;
            assert.strictEqual(fn.packageType, "Zip");
            assert.strictEqual(fn.runtime, "python3.12");
            assert.strictEqual(fn.environment.variables.MODEL_BACKEND, "onnx");
            // The dev stack's shape: the ONNX model fits beside the profile, so it ships in a layer of its own.
            assert.deepStrictEqual(m.byType("aws:lambda/layerVersion:LayerVersion").map((l) => l.inputs.layerName.split("-").pop()), ["deps", "model"]);
            assert.strictEqual(fn.environment.variables.MODEL_DIR, "/opt/ml/model");
            assert.strictEqual(c.plan.delivery!.model, "layer");
            assert.deepStrictEqual(c.plan.layer!.omitted!.filter((o) => o.reason === "omit line").map((o) => o.name).sort(), ["flatbuffers", "huggingface_hub", "packaging", "protobuf"]);
            assert.strictEqual(m.byType("aws:ecr/repository:Repository").length, 0);
            assert.strictEqual(c.plan.model.export, null, "no torch export");
            assert.strictEqual(c.plan.model.published!.file, "onnx/model.onnx");
            assert.ok(c.plan.model.published!.parity!.cosine_min >= 0.999, JSON.stringify(c.plan.model.published!.parity));
            assert.ok(!c.plan.model.files.includes("model.safetensors"));
        });

        it("is SnapStart-eligible: the same with snapStart: true is accepted and sets it on published versions", async () => {
            const s = await startMocks();
            const withSnap = new MlLambda("search", { snapStart: true });
            await settle(withSnap.functionArn, withSnap.aliasArn);
            assert.deepStrictEqual(s.one("aws:lambda/function:Function").inputs.snapStart, { applyOn: "PublishedVersions" });
        });
    });

    describe("failing early", () => {
        it("registers nothing when an argument is invalid", async () => {
            const m = await startMocks();
            assert.throws(() => new MlLambda("bad", args({ memorySize: 64 })), (e: unknown) => e instanceof MlLambdaError && /memorySize/.test(e.message));
            await new Promise((r) => setTimeout(r, 20));
            assert.strictEqual(m.resources.length, 0);
        });

        it("is a ComponentResource of type pulumi-ml-lambda:index:MlLambda", async () => {
            const { c } = await build({ packaging: "zip" });
            assert.ok(pulumi.ComponentResource.isInstance(c));
            assert.match(await value(c.urn), /pulumi-ml-lambda:index:MlLambda::embed$/);
        });
    });
});
