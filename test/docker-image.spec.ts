/**
 * The pure parts of the image path's engine client and runner: BuildKit progress decoding (what names a failing
 * step), the container log framing, and the environment and CPU share a function gets. The engine itself is
 * exercised by `npm run test:image`.
 */
import * as assert from "assert";
import { decodeStatus } from "../components/docker/buildkit";
import { BuildProgress, demux, splitTag } from "../components/docker/engine";
import { cpusFor, imageEnvironment, ImageRunner } from "../cli/imageRunner";
import type { DeployedFunction } from "../cli/run/types";
import { createRunner, RunError } from "../cli/run";

// A protobuf writer just big enough to hand-build StatusResponse messages.
function varint(n: number): Buffer {
    const out: number[] = [];
    do {
        let b = n & 0x7f;
        n = Math.floor(n / 128);
        if (n > 0) b |= 0x80;
        out.push(b);
    } while (n > 0);
    return Buffer.from(out);
}
const bytesField = (no: number, payload: Buffer | string) => {
    const b = Buffer.isBuffer(payload) ? payload : Buffer.from(payload, "utf8");
    return Buffer.concat([varint((no << 3) | 2), varint(b.length), b]);
};
const intField = (no: number, v: number) => Buffer.concat([varint(no << 3), varint(v)]);
const timestamp = (ms: number) => Buffer.concat([intField(1, Math.floor(ms / 1000)), intField(2, (ms % 1000) * 1e6)]);
const vertex = (v: { digest: string; name?: string; cached?: boolean; started?: number; completed?: number; error?: string }) =>
    bytesField(1, Buffer.concat([
        bytesField(1, v.digest),
        bytesField(2, "sha256:input"), // inputs: skipped by the decoder
        ...(v.name ? [bytesField(3, v.name)] : []),
        ...(v.cached ? [intField(4, 1)] : []),
        ...(v.started !== undefined ? [bytesField(5, timestamp(v.started))] : []),
        ...(v.completed !== undefined ? [bytesField(6, timestamp(v.completed))] : []),
        ...(v.error ? [bytesField(7, v.error)] : []),
        bytesField(99, "a field from a newer BuildKit"),
    ]));
const log = (digest: string, msg: string) => bytesField(3, Buffer.concat([bytesField(1, digest), intField(3, 2), bytesField(4, msg)]));
const trace = (...parts: Buffer[]) => JSON.stringify({ id: "moby.buildkit.trace", aux: Buffer.concat(parts).toString("base64") });

describe("image path: BuildKit progress", () => {
    it("decodes vertexes (name, cached, times, error) and logs, skipping unknown fields", () => {
        const s = decodeStatus(Buffer.concat([
            vertex({ digest: "sha256:a", name: "[2/9] COPY docker/ /opt/ml-lambda/docker/", cached: true, started: 1_000_500, completed: 1_002_250 }),
            log("sha256:a", "line one\nline two\n"),
        ]));
        assert.strictEqual(s.vertexes.length, 1);
        assert.deepStrictEqual({ ...s.vertexes[0] }, { digest: "sha256:a", name: "[2/9] COPY docker/ /opt/ml-lambda/docker/", cached: true, started: 1_000_500, completed: 1_002_250 });
        assert.strictEqual(s.logs[0].vertex, "sha256:a");
        assert.strictEqual(s.logs[0].stream, 2);
        assert.strictEqual(s.logs[0].msg.toString(), "line one\nline two\n");
    });

    it("names the failing step and keeps its own output, not the other steps'", () => {
        const shown: string[] = [];
        const p = new BuildProgress((l) => shown.push(l));
        p.line(trace(vertex({ digest: "sha256:ok", name: "[3/9] COPY requirements.txt /x", started: 0, completed: 10 })));
        p.line(trace(vertex({ digest: "sha256:bad", name: "[4/9] RUN python3 install_deps.py", started: 20 })));
        p.line(trace(log("sha256:ok", "not this\n"), log("sha256:bad", "ERROR: No matching distribution found for nope==1\n")));
        p.line(trace(vertex({ digest: "sha256:bad", name: "[4/9] RUN python3 install_deps.py", started: 20, completed: 900, error: "exit code: 1" })));
        p.line(JSON.stringify({ errorDetail: { message: "executor failed running [/bin/sh -c python3 install_deps.py]: exit code: 1" }, error: "x" }));
        assert.match(p.error, /executor failed running/);
        const failed = p.failedStep()!;
        assert.strictEqual(failed.name, "[4/9] RUN python3 install_deps.py");
        assert.deepStrictEqual(failed.logs, ["ERROR: No matching distribution found for nope==1"]);
        assert.ok(shown.some((l) => l.includes("[4/9] RUN") && l.includes("ERROR: exit code: 1")), shown.join("\n"));
    });

    it("the classic builder's failure is the last Step line with what followed it", () => {
        const p = new BuildProgress(() => undefined);
        p.line(JSON.stringify({ stream: "Step 1/2 : FROM base\n" }));
        p.line(JSON.stringify({ stream: "Step 2/2 : RUN false\n" }));
        p.line(JSON.stringify({ stream: "boom\n" }));
        p.line(JSON.stringify({ error: "The command '/bin/sh -c false' returned a non-zero code: 1" }));
        assert.strictEqual(p.failedStep()!.name, "Step 2/2 : RUN false");
        assert.deepStrictEqual(p.failedStep()!.logs, ["boom"]);
    });
});

describe("image path: engine client helpers", () => {
    it("demultiplexes a non-TTY log stream", () => {
        const frame = (stream: number, text: string) => {
            const h = Buffer.alloc(8);
            h[0] = stream;
            h.writeUInt32BE(Buffer.byteLength(text), 4);
            return Buffer.concat([h, Buffer.from(text)]);
        };
        assert.strictEqual(demux(Buffer.concat([frame(1, "out\n"), frame(2, "err\n")])), "out\nerr\n");
    });

    it("splits a tag off a name, but not a registry port", () => {
        assert.deepStrictEqual(splitTag("127.0.0.1:5000/repo:abc"), ["127.0.0.1:5000/repo", "abc"]);
        assert.deepStrictEqual(splitTag("127.0.0.1:5000/repo"), ["127.0.0.1:5000/repo", "latest"]);
    });
});

describe("image path: the runner's Lambda conditions", () => {
    const spec: DeployedFunction = {
        name: "fn", packageType: "Image", runtime: "", handler: "", architecture: "x86_64", memoryMb: 1769, timeoutS: 60, ephemeralStorageMb: 512, region: "eu-west-1",
        environment: { MODEL_DIR: "/opt/ml/model", MODEL_BACKEND: "onnx", AWS_REGION: "us-east-1" },
        logging: { format: "JSON", applicationLogLevel: "INFO" }, layers: [], s3Objects: [],
    };

    it("sets what Lambda sets, then the function's variables; a reserved name cannot be overridden", () => {
        const env = imageEnvironment(spec, "app.handler.lambda_handler");
        assert.strictEqual(env._HANDLER, "app.handler.lambda_handler");
        assert.strictEqual(env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE, "1769");
        assert.strictEqual(env.AWS_LAMBDA_FUNCTION_TIMEOUT, "60");
        assert.strictEqual(env.AWS_LAMBDA_LOG_FORMAT, "JSON");
        assert.strictEqual(env.AWS_LAMBDA_LOG_LEVEL, "INFO");
        assert.strictEqual(env.AWS_LAMBDA_LOG_GROUP_NAME, "/aws/lambda/fn");
        assert.strictEqual(env.MODEL_DIR, "/opt/ml/model");
        assert.strictEqual(env.AWS_REGION, "eu-west-1");
        assert.strictEqual(env.AWS_EXECUTION_ENV, undefined, "an image has no managed runtime's variables");
    });

    it("createRunner runs an image function in ImageRunner, and refuses one with no built image, naming the fix", () => {
        const runner = createRunner({ ...spec, image: { context: "/c", dockerfile: "Dockerfile", buildArgs: {}, tag: "ml-lambda-local/fn:abc" } }, { cacheDir: "/nonexistent" });
        assert.ok(runner instanceof ImageRunner);
        assert.strictEqual((runner as ImageRunner).image, "ml-lambda-local/fn:abc");
        assert.throws(() => createRunner({ ...spec, image: { context: "/c", dockerfile: "Dockerfile", buildArgs: {} } }, { cacheDir: "/nonexistent" }),
            (e: unknown) => e instanceof RunError && /function fn is a container image with no built image to run/.test(e.message) && /ml-lambda invoke --stack/.test(e.message));
    });

    it("gives the CPU share of the memory size (1,769 MB = 1 vCPU), capped by the machine", () => {
        assert.strictEqual(cpusFor(1769, 8), 1);
        assert.ok(Math.abs(cpusFor(3008, 8) - 3008 / 1769) < 1e-9);
        assert.strictEqual(cpusFor(10240, 2), 2);
        assert.ok(cpusFor(10240, 64) <= 6 && cpusFor(10240, 64) > 5.7);
    });
});

describe("image path: the build context tar", () => {
    it("holds every file and directory with its mode, owned by 0:0, readable by a standard tar", () => {
        const fs = require("fs") as typeof import("fs");
        const os = require("os") as typeof import("os");
        const path = require("path") as typeof import("path");
        const { spawnSync } = require("child_process") as typeof import("child_process");
        const { tarDirectory } = require("../components/docker/tar");
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ml-lambda-tar-"));
        try {
            const long = "d".repeat(60) + "/" + "e".repeat(70) + "/" + "f".repeat(120);
            fs.mkdirSync(path.join(dir, "model", "1_Pooling"), { recursive: true });
            fs.mkdirSync(path.join(dir, path.dirname(long)), { recursive: true });
            fs.writeFileSync(path.join(dir, "model", "1_Pooling", "config.json"), "{}");
            fs.chmodSync(path.join(dir, "model", "1_Pooling", "config.json"), 0o444);
            fs.writeFileSync(path.join(dir, "Dockerfile"), "FROM scratch\n");
            fs.writeFileSync(path.join(dir, long), "x".repeat(1000));
            const tarFile = path.join(dir, "..", `${path.basename(dir)}.tar`);
            fs.writeFileSync(tarFile, tarDirectory(dir));
            const listing = spawnSync("tar", ["-tvf", tarFile, "--numeric-owner"], { encoding: "utf8" });
            fs.rmSync(tarFile);
            assert.strictEqual(listing.status, 0, listing.stderr);
            const lines = listing.stdout.trim().split("\n");
            assert.ok(lines.some((l) => l.startsWith("-r--r--r-- 0/0") && l.endsWith("model/1_Pooling/config.json")), listing.stdout);
            assert.ok(lines.some((l) => l.startsWith("drwx") && l.endsWith("model/1_Pooling/")), listing.stdout);
            assert.ok(lines.some((l) => l.includes(" 1000 ") && l.endsWith(long)), `the ${long.length}-character name: ${listing.stdout}`);
            assert.ok(lines.every((l) => / 0\/0 /.test(l)), listing.stdout);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe("image path: size report and limit", () => {
    const { checkImageSize, formatImageReport, imageSizeReport } = require("../components/packaging/imageSize");
    const GiB = 1024 ** 3;
    const measurement = (bytes: number[]) => ({
        uncompressedBytes: bytes.reduce((a, b) => a + b, 0),
        layers: bytes.map((b, i) => ({ createdBy: i === 0 ? "(base image)" : `RUN step ${i}`, bytes: b })),
        imageId: "sha256:x",
        measuredWith: "test",
    });

    it("reports the image against the 10 GiB image limit, never the zip limit", () => {
        const r = imageSizeReport(measurement([341e6, 200e6, 91e6]));
        assert.strictEqual(r.limitBytes, 10 * GiB);
        assert.strictEqual(r.uncompressedBytes, 632e6);
        assert.strictEqual(r.availableBytes, 10 * GiB - 632e6);
        assert.strictEqual(r.largestLayers[0].bytes, 341e6);
        const text = formatImageReport(r, ['packaging forced to "image"']);
        assert.match(text, /632,000,000 of 10,737,418,240 bytes: the image uncompressed, 3 layers/);
        assert.doesNotMatch(text, /262,144,000|256,901,120|headroom/);
    });

    it("says when and how the image will be measured when it was not", () => {
        const text = formatImageReport(imageSizeReport(undefined), []);
        assert.match(text, /measured at `pulumi up` when a Docker engine answers; Lambda's limit: 10,737,418,240 bytes uncompressed/);
    });

    it("accepts an image at the limit and refuses one byte over, naming the limit, the heaviest layers and a fix", () => {
        assert.doesNotThrow(() => checkImageSize(measurement([10 * GiB - 1, 1])));
        assert.throws(() => checkImageSize(measurement([1e9, 9 * GiB, 2e8])), (e: any) => {
            assert.strictEqual(e.name, "MlLambdaError");
            assert.match(e.message, /over Lambda's 10,737,418,240-byte container image limit/);
            assert.match(e.message, /largest layers: 9\.0 GiB RUN step 1/);
            assert.match(e.message, /Fix: shrink the dependencies/);
            return true;
        });
    });
});

describe("image path: no Docker engine", () => {
    it("is reported naming Docker, the socket and how to get an engine", function () {
        this.timeout(30_000);
        const { engineAnswersSync } = require("../components/docker/measure");
        const r = engineAnswersSync({ ...process.env, DOCKER_HOST: "unix:///nonexistent/docker.sock" });
        assert.strictEqual(r.ok, false);
        assert.match(r.why, /no Docker engine answers at unix:\/\/\/nonexistent\/docker\.sock \(ENOENT\)/);
        assert.match(r.why, /docker-engine\.sh start/);
        const tcp = engineAnswersSync({ ...process.env, DOCKER_HOST: "tcp://10.0.0.1:2375" });
        assert.strictEqual(tcp.ok, false);
        assert.match(tcp.why, /only a local engine on a unix socket/);
    });
});
