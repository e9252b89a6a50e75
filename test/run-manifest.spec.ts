/**
 * The deployment manifest `ml-lambda plan` records for the faithful run: read from a mock-engine graph (hand-built
 * here, shaped as the offline run records it: assets carry their path as a promise), then checked at invoke time
 * (missing, stale stack file, missing or changed artifact: each says to plan again, in the project's own words).
 */
import * as assert from "assert";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { OfflineRun, RecordedResource } from "../cli/offline";
import { buildManifest, deployedFunction, loadManifest, manifestPath, planCommand, writeManifest } from "../cli/run/manifest";
import { RunError } from "../cli/run/types";
import { buildSource, BuildSource } from "../components/packaging";
import { MLLAMBDA_TYPE } from "../components/identity";

const sha = (data: string) => crypto.createHash("sha256").update(data).digest();

function project(withPlanScript: boolean): { dir: string; files: Record<string, string> } {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "run-manifest-"));
    fs.writeFileSync(path.join(dir, "Pulumi.yaml"), "name: p\nruntime: nodejs\n");
    fs.writeFileSync(path.join(dir, "Pulumi.dev.yaml"), "config:\n  aws:region: eu-west-1\n");
    if (withPlanScript) fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ scripts: { plan: "bash scripts/plan.sh" } }));
    const files: Record<string, string> = {};
    for (const [name, data] of Object.entries({ code: "code zip", layer: "layer zip", model: "model archive" })) {
        files[name] = path.join(dir, `${name}.bin`);
        fs.writeFileSync(files[name], data);
    }
    return { dir, files };
}

const asset = (file: string) => ({ __pulumiAsset: true, path: Promise.resolve(file) });
const archive = (file: string) => ({ __pulumiArchive: true, path: Promise.resolve(file) });

function res(type: string, name: string, inputs: Record<string, any>, outputs: Record<string, any> = {}): RecordedResource {
    return { type, name, inputs, outputs: { ...inputs, ...outputs }, custom: true, id: `${name}-id`, parent: "pulumi-ml-lambda:index:MlLambda::embeddings" };
}

function graph(files: Record<string, string>, over: { codeHash?: string; extraLayer?: string; sources?: BuildSource[] } = {}): OfflineRun {
    const modelSha = sha("model archive").toString("hex");
    const layerArn = "arn:aws:lambda:eu-west-1:123456789012:layer:fn-deps:1";
    return {
        stack: { project: "p", stack: "dev", config: { "aws:region": "eu-west-1" } } as any,
        resources: [
            // The component, with what it registers: here only the sources its build read.
            { type: MLLAMBDA_TYPE, name: "embeddings", inputs: { buildSources: over.sources ?? [] }, outputs: {}, custom: false, id: "", parent: "pulumi:pulumi:Stack::p-dev" },
            res("aws:s3/bucketObjectv2:BucketObjectv2", "embeddings-model", { bucket: "models-1", key: `models/m/${modelSha}.tar`, source: asset(files.model) }),
            res("aws:s3/bucketObjectv2:BucketObjectv2", "embeddings-deps-zip", { bucket: "models-1", key: "artifacts/fn/deps.zip", source: asset(files.layer) }),
            res("aws:lambda/layerVersion:LayerVersion", "embeddings-deps", { layerName: "fn-deps", s3Bucket: "models-1", s3Key: "artifacts/fn/deps.zip", sourceCodeHash: sha("layer zip").toString("base64") }, { arn: layerArn }),
            res("aws:lambda/function:Function", "embeddings", {
                name: "fn", packageType: "Zip", runtime: "python3.12", handler: "app.handler.lambda_handler", architectures: ["x86_64"],
                memorySize: 1769, timeout: 60, ephemeralStorage: { size: 1024 }, snapStart: { applyOn: "PublishedVersions" },
                code: archive(files.code), sourceCodeHash: over.codeHash ?? sha("code zip").toString("base64"),
                layers: [layerArn, ...(over.extraLayer ? [over.extraLayer] : [])],
                environment: { variables: { MODEL_BUCKET: "models-1", MODEL_KEY: `models/m/${modelSha}.tar`, MODEL_SHA256: modelSha, MODEL_BACKEND: "onnx" } },
                loggingConfig: { logFormat: "JSON", applicationLogLevel: "INFO", systemLogLevel: "INFO", logGroup: "/aws/lambda/fn" },
            }),
        ],
        calls: [],
        outputs: {},
        preview: true,
    };
}

describe("faithful run: the deployment manifest", () => {
    it("records the function, its artifacts with sha256, and the model object, from the graph", async () => {
        const { dir, files } = project(true);
        const m = await buildManifest(graph(files), { projectDir: dir, cacheDir: path.join(dir, "cache"), now: new Date("2026-11-30T00:00:00Z") });
        assert.deepStrictEqual([m.project, m.stack, m.region, m.plannedAt], ["p", "dev", "eu-west-1", "2026-11-30T00:00:00.000Z"]);
        assert.deepStrictEqual(Object.keys(m.stackFiles).sort(), ["Pulumi.dev.yaml", "Pulumi.yaml"]);
        const f = m.functions[0];
        assert.deepStrictEqual(
            [f.name, f.packageType, f.runtime, f.handler, f.architecture, f.memoryMb, f.timeoutS, f.ephemeralStorageMb, f.snapStart],
            ["fn", "Zip", "python3.12", "app.handler.lambda_handler", "x86_64", 1769, 60, 1024, true],
        );
        assert.strictEqual(f.environment.MODEL_BACKEND, "onnx");
        assert.deepStrictEqual(f.logging, { format: "JSON", applicationLogLevel: "INFO", systemLogLevel: "INFO", logGroup: "/aws/lambda/fn" });
        const kept = path.join(dir, "cache", "deployments", "code", `${sha("code zip").toString("hex")}.zip`);
        assert.deepStrictEqual({ ...f.code }, { path: kept, sha256: sha("code zip").toString("hex"), bytes: 8, via: "direct" });
        assert.strictEqual(fs.readFileSync(kept, "utf8"), "code zip", "the code zip is kept by content: the next plan rewrites the component's path");
        assert.strictEqual(f.layers.length, 1);
        assert.deepStrictEqual(f.layers[0], { kind: "built", arn: "arn:aws:lambda:eu-west-1:123456789012:layer:fn-deps:1", resource: "embeddings-deps", path: files.layer, sha256: sha("layer zip").toString("hex"), bytes: 9 });
        assert.deepStrictEqual(f.s3Objects.map((o) => [o.bucket, o.role, o.path, o.sha256]), [["models-1", "model", files.model, sha("model archive").toString("hex")]]);

        const fn = deployedFunction(m);
        assert.deepStrictEqual(fn.code, { zip: kept, sha256: sha("code zip").toString("hex") });
        assert.deepStrictEqual(fn.s3Objects[0].file, files.model);
        assert.strictEqual(fn.region, "eu-west-1");
    });

    it("the model in a layer of its own is just another built layer: recorded in order, nothing in S3", async () => {
        const { dir, files } = project(true);
        const base = graph(files);
        const modelArn = "arn:aws:lambda:eu-west-1:123456789012:layer:fn-model:1";
        const resources = base.resources
            .filter((r) => r.name !== "embeddings-model")
            .map((r) => r.type !== "aws:lambda/function:Function" ? r : { ...r, inputs: { ...r.inputs, layers: [...r.inputs.layers, modelArn], environment: { variables: { MODEL_DIR: "/opt/ml/model", MODEL_BACKEND: "onnx" } } } });
        resources.push(res("aws:s3/bucketObjectv2:BucketObjectv2", "embeddings-model-zip", { bucket: "models-1", key: "artifacts/fn/model.zip", source: asset(files.model) }));
        resources.push(res("aws:lambda/layerVersion:LayerVersion", "embeddings-model", { layerName: "fn-model", s3Bucket: "models-1", s3Key: "artifacts/fn/model.zip", sourceCodeHash: sha("model archive").toString("base64") }, { arn: modelArn }));
        const m = await buildManifest({ ...base, resources }, { projectDir: dir, cacheDir: path.join(dir, "cache") });
        const f = m.functions[0];
        assert.deepStrictEqual(f.layers.map((l) => l.kind === "built" && [l.resource, l.path]), [["embeddings-deps", files.layer], ["embeddings-model", files.model]]);
        assert.deepStrictEqual(f.s3Objects, [], "no MODEL_BUCKET: nothing for moto to serve");
        const fn = deployedFunction(m);
        assert.deepStrictEqual(fn.layers.map((l) => "zip" in l && l.zip), [files.layer, files.model]);
        assert.strictEqual(fn.environment.MODEL_DIR, "/opt/ml/model");
    });

    it("marks a layer the plan did not build as not runnable, and the runner refuses it by name", async () => {
        const { dir, files } = project(true);
        const ext = "arn:aws:lambda:eu-west-1:999999999999:layer:someone-elses:7";
        const m = await buildManifest(graph(files, { extraLayer: ext }), { projectDir: dir, cacheDir: path.join(dir, "cache") });
        assert.deepStrictEqual(m.functions[0].layers[1], { kind: "external", arn: ext, runnable: false, note: "an existing layer version the plan did not build: its content is not on this machine" });
        assert.throws(() => deployedFunction(m), (e: Error) => e instanceof RunError && e.message.includes(ext));
    });

    it("refuses a graph whose recorded code hash is not the file's", async () => {
        const { dir, files } = project(true);
        await assert.rejects(buildManifest(graph(files, { codeHash: sha("other").toString("base64") }), { projectDir: dir, cacheDir: path.join(dir, "cache") }), /has sha256 .* but the graph records/);
    });

    it("records the image path's build inputs", async () => {
        const { dir, files } = project(true);
        const g = graph(files);
        const fnRes = g.resources.find((r) => r.type === "aws:lambda/function:Function")!;
        fnRes.inputs = { ...fnRes.inputs, packageType: "Image", code: undefined, layers: undefined, imageUri: "repo@sha256:x", environment: { variables: { MODEL_DIR: "/opt/ml/model" } } };
        g.resources.push(res("docker:index/image:Image", "embeddings-image", { imageName: "repo:abc", build: { context: "/ctx", dockerfile: "/ctx/Dockerfile", platform: "linux/amd64", args: { PYTHON_VERSION: "3.12" } } }));
        const m = await buildManifest(g, { projectDir: dir, cacheDir: path.join(dir, "cache") });
        assert.deepStrictEqual(m.functions[0].image, { resource: "embeddings-image", context: "/ctx", dockerfile: "/ctx/Dockerfile", buildArgs: { PYTHON_VERSION: "3.12" }, platform: "linux/amd64", imageName: "repo:abc" });
        assert.strictEqual(deployedFunction(m).packageType, "Image");
    });

    describe("at invoke time", () => {
        it("no manifest: says to plan first, as npm run in this repository and as npx from an npm install", () => {
            const a = project(true);
            assert.throws(() => loadManifest(a.dir, "dev"), (e: Error) => e instanceof RunError && e.message.includes("run `npm run plan -- --stack dev` first"));
            const b = project(false);
            assert.throws(() => loadManifest(b.dir, "dev"), (e: Error) => e.message.includes("run `npx ml-lambda plan --stack dev` first"));
            assert.throws(() => loadManifest(b.dir, "nosuch"), (e: Error) => e.message.includes("there is no Pulumi.nosuch.yaml"));
            assert.strictEqual(planCommand(a.dir, "prod"), "npm run plan -- --stack prod");
        });

        it("a fresh manifest loads; a changed stack file or artifact makes it stale", async () => {
            const { dir, files } = project(true);
            const cache = path.join(dir, "cache");
            writeManifest(await buildManifest(graph(files), { projectDir: dir, cacheDir: cache }), dir);
            assert.ok(fs.existsSync(manifestPath(dir, "dev")));
            assert.strictEqual(loadManifest(dir, "dev").functions[0].name, "fn");

            fs.appendFileSync(path.join(dir, "Pulumi.dev.yaml"), "  p:memorySize: 3008\n");
            assert.throws(() => loadManifest(dir, "dev"), (e: Error) => /Pulumi\.dev\.yaml changed since the plan of .*: the recorded build is stale; run `npm run plan -- --stack dev` first/.test(e.message));

            writeManifest(await buildManifest(graph(files), { projectDir: dir, cacheDir: cache }), dir);
            fs.writeFileSync(path.join(dir, "index.ts"), "new MlLambda(\"embeddings\", {});\n");
            writeManifest(await buildManifest(graph(files), { projectDir: dir, cacheDir: cache }), dir);
            fs.writeFileSync(path.join(dir, "index.ts"), "new MlLambda(\"embeddings\", { memorySize: 3008 });\n");
            assert.throws(() => loadManifest(dir, "dev"), /index\.ts changed since the plan of .*: the recorded build is stale/, "the program changed");

            writeManifest(await buildManifest(graph(files), { projectDir: dir, cacheDir: cache }), dir);
            fs.writeFileSync(files.layer, "layer zip, rebuilt");
            assert.throws(() => loadManifest(dir, "dev"), (e: Error) => /the layer zip embeddings-deps .* changed since the plan .*run `npm run plan -- --stack dev` first/.test(e.message));
            fs.rmSync(files.layer);
            assert.throws(() => loadManifest(dir, "dev"), (e: Error) => /is missing: the build cache was cleared or moved/.test(e.message));
        });

        it("an edited handler or requirements file makes it stale (what the next plan would build differently); bytecode caches do not", async () => {
            const { dir, files } = project(true);
            const src = path.join(dir, "src", "app");
            fs.mkdirSync(src, { recursive: true });
            fs.writeFileSync(path.join(src, "handler.py"), "def lambda_handler(e, c):\n    return 1\n");
            const reqs = path.join(dir, "requirements.txt");
            fs.writeFileSync(reqs, "numpy==2.3.5\n");
            const exclude = ["__pycache__", "*.pyc", "tests"];
            const sources = [buildSource("the function's code", path.join(dir, "src"), exclude), buildSource("the requirements file", reqs)];
            const cache = path.join(dir, "cache");
            const record = async () => writeManifest(await buildManifest(graph(files, { sources }), { projectDir: dir, cacheDir: cache }), dir);
            await record();
            assert.deepStrictEqual(loadManifest(dir, "dev").functions[0].sources.map((s) => [s.what, path.relative(dir, s.path), s.sha256.length]),
                [["the function's code", "src", 64], ["the requirements file", "requirements.txt", 64]]);

            // Left out of the code zip, so not a change: bytecode caches and tests.
            fs.mkdirSync(path.join(src, "__pycache__"));
            fs.writeFileSync(path.join(src, "__pycache__", "handler.cpython-312.pyc"), "bytecode");
            fs.mkdirSync(path.join(dir, "src", "tests"));
            fs.writeFileSync(path.join(dir, "src", "tests", "test_x.py"), "assert True\n");
            assert.strictEqual(loadManifest(dir, "dev").functions[0].name, "fn");

            fs.appendFileSync(path.join(src, "handler.py"), "# edited\n");
            assert.throws(() => loadManifest(dir, "dev"),
                (e: Error) => e instanceof RunError && /^the function's code \(src\) changed since the plan of .*: the recorded build is stale; run `npm run plan -- --stack dev` first$/.test(e.message), "an edited handler");
            fs.writeFileSync(path.join(src, "handler.py"), "def lambda_handler(e, c):\n    return 1\n");
            assert.strictEqual(loadManifest(dir, "dev").functions[0].name, "fn", "the same bytes again: fresh");
            fs.chmodSync(path.join(src, "handler.py"), 0o755);
            assert.throws(() => loadManifest(dir, "dev"), /the function's code \(src\) changed/, "a mode the zip records");
            fs.chmodSync(path.join(src, "handler.py"), 0o644);

            fs.writeFileSync(reqs, "numpy==2.3.4\n");
            assert.throws(() => loadManifest(dir, "dev"), /^RunError: the requirements file \(requirements\.txt\) changed since the plan/);
            fs.rmSync(reqs);
            assert.throws(() => loadManifest(dir, "dev"), /^RunError: the requirements file \(requirements\.txt\) changed since the plan/, "a removed file");
        });

        it("several functions: asks which one", async () => {
            const { dir, files } = project(true);
            const m = await buildManifest(graph(files), { projectDir: dir, cacheDir: path.join(dir, "cache") });
            m.functions.push({ ...m.functions[0], name: "other", resource: "other" });
            assert.throws(() => deployedFunction(m), /has 2 functions \(fn, other\): pick one with --function NAME/);
            assert.strictEqual(deployedFunction(m, "other").name, "other");
            assert.throws(() => deployedFunction(m, "nope"), /no function "nope"; it has: fn, other/);
        });
    });
});
