/**
 * The faithful run end to end, on the dev stack's real build: the code zip, the dependency layer zip and the model's
 * layer zip `npm run plan` made (planned here first when the recorded build is missing or stale), run in the private
 * root under aws-lambda-rie: the model read from /opt/ml/model, nothing fetched. The same stack planned with
 * modelDelivery "s3" runs with moto serving the model archive (the path a model too big for a layer takes).
 *
 * Module origins are checked with the runtime's probe (cli/run/runtime/ml_lambda_probe.py: sys.modules and
 * /proc/self/maps after the invocation) rather than `python -v`: it sees every module the process holds, extension
 * modules and the shared libraries they mapped included, and does not change how the runtime is started (-v would
 * add a flag Lambda does not pass and thousands of log lines).
 */
import * as assert from "assert";
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { MLLAMBDA_TYPE } from "../components/identity";
import { runOffline } from "../cli/offline";
import { buildManifest, createRunner, deployedFunction, loadManifest } from "../cli/run";
import { buildLayer } from "../components/packaging";
import { parseRecord } from "../components/packaging/measure";
import { fileSha256 } from "../cli/run/tools";
import type { DeployedFunction, DeploymentManifest, Invocation, ProbeReport } from "../cli/run";
import { RunError } from "../cli/run/types";
import { descendants } from "../cli/proc";
import { ZipRunner } from "../cli/run/zipRunner";
import { REPO } from "./paths";

const TS_NODE = path.join(REPO, "node_modules", ".bin", "ts-node");

/** The dev stack's recorded build; planned now (as a user would) when missing or stale. */
function devBuild(): DeploymentManifest {
    try {
        return loadManifest(REPO, "dev");
    } catch (e) {
        if (!(e instanceof RunError)) throw e;
        console.log(`      (${e.message.split(":")[0]}: planning the dev stack first)`);
        const r = spawnSync("bash", ["scripts/plan.sh", "--stack", "dev"], { cwd: REPO, encoding: "utf8", env: { ...process.env, ML_LAMBDA_CACHE_DIR: path.join(REPO, ".cache", "ml-lambda") } });
        assert.strictEqual(r.status, 0, `npm run plan -- --stack dev failed:\n${r.stderr.slice(-3000)}`);
        return loadManifest(REPO, "dev");
    }
}

/** The dev stack planned with config changed (e.g. modelDelivery "s3"), recorded as `ml-lambda plan` records it. */
function devVariant(overrides: Record<string, string>) {
    return stackBuild("dev", overrides);
}

/** A stack of this project planned (with config overrides), recorded as `ml-lambda plan` records it. */
async function stackBuild(stack: string, overrides: Record<string, string> = {}): Promise<{ manifest: DeploymentManifest; fn: DeployedFunction; sizeReport: any }> {
    const saved = { ...process.env };
    try {
        process.env.ML_LAMBDA_CACHE_DIR = path.join(REPO, ".cache", "ml-lambda");
        const hub = spawnSync("bash", ["scripts/offline-model.sh"], { cwd: REPO, encoding: "utf8" }).stdout.trim();
        if (hub) process.env.HF_HUB_CACHE = hub;
        const run = await runOffline({ projectDir: REPO, stack, preview: true, configOverrides: overrides });
        const manifest = await buildManifest(run, { projectDir: REPO, cacheDir: process.env.ML_LAMBDA_CACHE_DIR });
        const component = run.resources.find((r) => r.type === MLLAMBDA_TYPE);
        return { manifest, fn: deployedFunction(manifest), sizeReport: component?.inputs.sizeReport };
    } finally {
        process.env = saved;
    }
}

/** The function's own "model loaded" log lines (powertools JSON) among what the emulator printed. */
function modelLoaded(log: string[]): Array<Record<string, unknown>> {
    return log.filter((l) => l.includes('"message":"model loaded"')).map((l) => JSON.parse(l.slice(l.indexOf("{"))));
}

/** One fresh execution environment: started, invoked once (its cold start), stopped whatever happens. */
async function coldOnce(f: DeployedFunction, cacheDir: string, event: unknown, probe = false): Promise<{ inv: Invocation; start: Awaited<ReturnType<ZipRunner["start"]>> }> {
    const runner = createRunner(f, { cacheDir, cpus: 1, probe }) as ZipRunner;
    try {
        const start = await runner.start();
        return { start, inv: await runner.invoke(event) };
    } finally {
        await runner.stop();
    }
}

function bodyOf(inv: Invocation): any {
    const res = inv.response as { statusCode: number; body: string };
    assert.ok(res && typeof res.body === "string", `not a proxy-shaped response: ${inv.body.slice(0, 300)}`);
    return JSON.parse(res.body);
}

function alive(pid: number): boolean {
    try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
        return !/^\d+ \(.*\) Z /.test(stat); // a zombie is gone for our purposes (its parent reaps it)
    } catch {
        return false;
    }
}

async function allGone(pids: number[], withinMs = 5000): Promise<number[]> {
    const until = Date.now() + withinMs;
    let left = pids.filter(alive);
    while (left.length && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 50));
        left = left.filter(alive);
    }
    return left.map((p) => {
        let cmd = "";
        try { cmd = fs.readFileSync(`/proc/${p}/cmdline`, "utf8").replace(/\0/g, " ").slice(0, 120); } catch { /* gone */ }
        return `${p} ${cmd}`;
    }) as unknown as number[];
}

const payload = JSON.stringify({ texts: ["through a Function URL"] });
const EVENTS: Record<string, unknown> = {
    seed: { texts: ["through a Function URL"] },
    text: { text: "a single text" },
    apiGatewayV1: { httpMethod: "POST", resource: "/embed", path: "/embed", headers: { "content-type": "application/json" }, body: payload, isBase64Encoded: false },
    functionUrlV2: { version: "2.0", rawPath: "/", requestContext: { http: { method: "POST" } }, headers: {}, body: payload, isBase64Encoded: false },
    base64: { version: "2.0", requestContext: { http: { method: "POST" } }, body: Buffer.from(payload).toString("base64"), isBase64Encoded: true },
    clustered: { texts: ["cats purr", "kittens purr softly", "stocks fell", "markets dropped", "rain tomorrow", "showers expected"], cluster: { min_cluster_size: 2 } },
    badMissing: {},
    badType: { texts: 5 },
    badEmpty: { texts: [] },
    badField: { texts: ["a"], colour: "blue" },
    badEvent: ["not", "an", "object"],
    badProxyBody: { version: "2.0", requestContext: { http: { method: "POST" } }, body: "{not json", isBase64Encoded: false },
};

describe("faithful run of the dev stack's planned build (real artifacts)", function () {
    this.timeout(900_000);
    let manifest: DeploymentManifest;
    let fn: DeployedFunction;

    before(function () {
        if (process.platform !== "linux") this.skip();
        manifest = devBuild();
        fn = deployedFunction(manifest);
    });

    describe("one execution environment, probed, pinned to one CPU", () => {
        const results: Record<string, Invocation> = {};
        let pids: number[] = [];
        let start: Awaited<ReturnType<ZipRunner["start"]>>;
        let log: string[] = [];

        before(async () => {
            const runner = createRunner(fn, { cacheDir: manifest.cacheDir, cpus: 1, probe: true }) as ZipRunner;
            try {
                start = await runner.start();
                for (const [name, event] of Object.entries(EVENTS)) results[name] = await runner.invoke(event);
                pids = runner.processIds();
            } finally {
                log = (await runner.stop()).log;
            }
        });

        it("logs \"model loaded\" once at init: onnx, 384, from the model's layer, on 1 thread (1,769 MB = 1 vCPU)", () => {
            const loaded = modelLoaded(log);
            assert.strictEqual(loaded.length, 1, `model loaded lines: ${JSON.stringify(loaded)}`);
            assert.strictEqual(loaded[0].backend, "onnx");
            assert.strictEqual(loaded[0].dimension, 384);
            assert.strictEqual(loaded[0].model_path, "/opt/ml/model");
            assert.strictEqual(loaded[0].threads, 1);
        });

        it("answers the seed-shaped event cold, with the figures of a cold start", () => {
            const cold = results.seed;
            assert.strictEqual(cold.cold, true);
            assert.strictEqual(cold.functionError, undefined, cold.body.slice(0, 500));
            const body = bodyOf(cold);
            assert.deepStrictEqual([body.count, body.dimension, body.embeddings[0].length, body.model], [1, 384, 384, "all-MiniLM-L6-v2"]);
            const norm = Math.sqrt(body.embeddings[0].reduce((a: number, x: number) => a + x * x, 0));
            assert.ok(Math.abs(norm - 1) < 1e-4, `norm ${norm}`);
            for (const k of ["timeToFirstResponseMs", "initMs", "invokeMs", "peakRssMb"] as const) assert.ok((cold[k] ?? 0) > 0, k);
            assert.ok(cold.timeToFirstResponseMs! >= cold.initMs!, "the first response comes after the init");
            // The dev build ships the model in a layer of its own: nothing in S3, nothing unpacked into /tmp, no moto.
            assert.deepStrictEqual(fn.s3Objects, []);
            assert.strictEqual(fn.environment.MODEL_DIR, "/opt/ml/model");
            assert.ok((cold.tmpUsedBytes ?? 0) < 1e6, `/tmp used ${cold.tmpUsedBytes} bytes`);
            assert.strictEqual(start.s3Endpoint, undefined, "no moto started");
            assert.match(start.python?.version ?? "", /^3\.12\./);
            console.log(`      cold: time to first response ${cold.timeToFirstResponseMs!.toFixed(0)} ms, init ${cold.initMs!.toFixed(0)} ms, ` +
                `first invoke ${cold.invokeMs!.toFixed(1)} ms, peak RSS ${cold.peakRssMb!.toFixed(0)} MB, /tmp ${(cold.tmpUsedBytes! / 1e6).toFixed(1)} MB`);
        });

        it("the warm invocations reuse the environment", () => {
            for (const name of Object.keys(EVENTS).slice(1)) assert.strictEqual(results[name].cold, false, name);
            assert.strictEqual(results.text.timeToFirstResponseMs, undefined);
            assert.deepStrictEqual([bodyOf(results.text).count, bodyOf(results.text).dimension], [1, 384]);
            const c = bodyOf(results.clustered);
            assert.strictEqual(c.labels.length, 6);
        });

        it("API Gateway (v1), Function URL (payload 2.0) and base64 bodies get the seed-shaped event's embeddings", () => {
            const direct = bodyOf(results.seed).embeddings[0] as number[];
            for (const name of ["apiGatewayV1", "functionUrlV2", "base64"]) {
                const inv = results[name];
                assert.strictEqual((inv.response as any).statusCode, 200, `${name}: ${inv.body.slice(0, 300)}`);
                const got = bodyOf(inv).embeddings[0] as number[];
                assert.ok(got.every((x, i) => Math.abs(x - direct[i]) < 1e-5), name);
            }
        });

        it("bad events get 400 naming the field, never a crash", () => {
            const expect: Record<string, string> = { badMissing: "texts", badType: "texts", badEmpty: "texts", badField: "colour", badEvent: "event", badProxyBody: "body" };
            for (const [name, field] of Object.entries(expect)) {
                const inv = results[name];
                assert.strictEqual(inv.functionError, undefined, name);
                assert.strictEqual((inv.response as any).statusCode, 400, `${name}: ${inv.body.slice(0, 300)}`);
                assert.strictEqual(bodyOf(inv).field, field, name);
            }
        });

        it("every loaded module comes from /var/task, /opt/python, /var/runtime or the runtime (stdlib, its boto3)", () => {
            const probe = results.seed.probe as ProbeReport;
            assert.ok(probe, "the probe reported");
            const std = "/var/lang/lib/python3.12/";
            // The runtime-included libraries in /var/lang's site-packages: exactly the pinned SDK packages.
            const sdk = ["boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six.py", "urllib3"].map((p) => `${std}site-packages/${p}`);
            const allowed = (origin: string) =>
                origin === "built-in" || origin === "frozen" ||
                origin.startsWith("/var/task/") || origin.startsWith("/opt/python/") || origin.startsWith("/var/runtime/") ||
                (origin.startsWith(std) && !origin.startsWith(`${std}site-packages/`)) || sdk.some((p) => origin.startsWith(p)) ||
                (origin.startsWith("namespace:") && origin.slice(10).split(",").every((p) => p.startsWith("/opt/python/") || p.startsWith("/var/task/")));
            // A module made in memory by its parent (typing.io, six.moves, pyexpat.errors) counts as its parent does.
            const ok = (name: string, origin: string): boolean => origin === "synthetic"
                ? name.includes(".") && ok(name.slice(0, name.lastIndexOf(".")), probe.modules[name.slice(0, name.lastIndexOf("."))] ?? "missing")
                : allowed(origin);
            const strays = Object.entries(probe.modules).filter(([name, o]) => !ok(name, o));
            assert.deepStrictEqual(strays, [], "modules from outside the function's root");
            const origins = Object.values(probe.modules);
            for (const [root, count] of [["/var/task/", 5], ["/opt/python/", 50], ["/var/runtime/", 20], [std, 50]] as const) {
                assert.ok(origins.filter((o) => o.startsWith(root)).length >= count, `few modules from ${root}`);
            }
            assert.ok(probe.modules["onnxruntime"].startsWith("/opt/python/onnxruntime/"), probe.modules["onnxruntime"]);
            assert.ok(probe.modules["app.handler"] === "/var/task/app/handler.py");
            assert.ok(probe.modules["awslambdaric"].startsWith("/var/runtime/awslambdaric/"));
            // Nothing fetched: the model store's S3 client (boto3) is never imported on the model-layer path. (botocore's
            // top level is: aws_lambda_powertools imports it to register its user-agent hook, as it does on Lambda.)
            assert.strictEqual(probe.modules["boto3"], undefined, "boto3 imported: something reached for S3");
            assert.strictEqual(probe.modules["botocore.client"], undefined, "a botocore client was made");
            assert.strictEqual(probe.prefix, "/var/lang");
            console.log(`      ${origins.length} modules: ${["/var/task/", "/opt/python/", "/var/runtime/", std].map((r) => `${r} ${origins.filter((o) => o.startsWith(r)).length}`).join(", ")}`);
        });

        it("every mapped file is from the root's own trees (the host's libraries only under /usr and /lib)", () => {
            const probe = results.seed.probe as ProbeReport;
            const ok = (f: string) => /^\/(var\/task|opt|var\/lang|var\/runtime|usr\/lib|usr\/lib64|lib|lib64|tmp|dev)\//.test(f);
            assert.deepStrictEqual(probe.maps.filter((f) => !ok(f)), []);
            assert.ok(probe.maps.some((f) => f.startsWith("/var/lang/lib/libpython3.12")), "libpython from /var/lang");
            assert.ok(probe.maps.some((f) => f.startsWith("/opt/python/onnxruntime/")), "onnxruntime's library from the layer");
        });

        it("runs with Lambda's sys.path, working directory, user and environment", () => {
            const probe = results.seed.probe as ProbeReport;
            assert.deepStrictEqual(probe.sys_path.slice(0, 8), [
                "/var/task", "/opt/python/lib/python3.12/site-packages", "/opt/python", "/var/lang/lib/python3.12/site-packages", "/var/runtime",
                "/var/lang/lib/python312.zip", "/var/lang/lib/python3.12", "/var/lang/lib/python3.12/lib-dynload",
            ]);
            // site.addsitedir() appends a layer directory again when it does not exist (this layer has no lib/): repeats only.
            assert.deepStrictEqual(probe.sys_path.slice(8).filter((p) => !probe.sys_path.slice(0, 8).includes(p)), [], "nothing after the runtime's own path");
            assert.strictEqual(probe.env.PYTHONPATH, "/var/runtime", "set by bootstrap.py for child processes");
            assert.deepStrictEqual([probe.cwd, probe.uid, probe.gid, probe.executable], ["/var/task", 993, 990, "/var/lang/bin/python3.12"]);
            for (const [k, v] of Object.entries(fn.environment)) assert.strictEqual(probe.env[k], v, `${k} verbatim from the plan`);
            for (const [k, v] of Object.entries({ AWS_LAMBDA_FUNCTION_NAME: fn.name, AWS_LAMBDA_FUNCTION_MEMORY_SIZE: "1769", LAMBDA_TASK_ROOT: "/var/task", TZ: ":UTC", AWS_REGION: "us-east-1" })) {
                assert.strictEqual(probe.env[k], v, k);
            }
            assert.match(probe.env.AWS_LAMBDA_RUNTIME_API, /^127\.0\.0\.1:\d+$/);
            const host = Object.keys(probe.env).filter((k) => process.env[k] !== undefined && probe.env[k] === process.env[k] && !["LANG", "TZ", "PATH"].includes(k));
            assert.deepStrictEqual(host.filter((k) => !/^(AWS_|_HANDLER|LAMBDA_|LD_LIBRARY_PATH|PYTHONPATH|MODEL_|HF_|POWERTOOLS_)/.test(k)), [], "variables inherited from this machine");
        });

        it("/var/task, /opt, /var/runtime and /var/lang are read-only; /tmp is writable, empty at start and still empty after init", () => {
            const probe = results.seed.probe as ProbeReport;
            assert.deepStrictEqual(probe.writable, { "/var/task": "EROFS", "/opt": "EROFS", "/var/runtime": "EROFS", "/var/lang": "EROFS", "/tmp": "writable" });
            assert.deepStrictEqual(probe.tmp_at_start, []);
            assert.deepStrictEqual(probe.tmp_now, []);
        });

        it("reads the model from /opt/ml/model (the model's layer) and fetches nothing: no socket connected, nothing opened under /tmp", () => {
            const probe = results.seed.probe as ProbeReport;
            const opened = probe.opened ?? [];
            // The function's own Python reads of the model directory (configs, the ONNX manifest; the graph itself is
            // read by onnxruntime's C++ and the tokenizer by Rust, which the audit hook does not see).
            const model = opened.filter((p) => p.startsWith("/opt/ml/model/"));
            assert.ok(model.includes("/opt/ml/model/ml_lambda_onnx.json"), `model files opened: ${model.join(", ")}`);
            assert.deepStrictEqual(opened.filter((p) => p.startsWith("/tmp/") && !p.includes(".ml-lambda-probe-write")), [], "nothing read or written under /tmp");
            assert.deepStrictEqual(probe.connects, [], "no network connection");
            // Bytecode: the imports from /opt/python and /var/task were served from the shipped .pyc files.
            const pyc = opened.filter((p) => /^\/(opt\/python|var\/task)\/.*__pycache__\/.*\.cpython-312\.pyc$/.test(p));
            assert.ok(pyc.length > 100, `only ${pyc.length} shipped .pyc opened`);
            assert.ok(opened.includes("/var/task/app/__pycache__/handler.cpython-312.pyc"), "the handler's own bytecode");
        });

        it("leaves no process running after stop()", async () => {
            assert.ok(pids.length >= 2, `expected the sandbox, the emulator and the runtime: ${pids}`);
            assert.deepStrictEqual(await allGone(pids), []);
        });
    });

    it("gives each cold start a fresh /tmp", async () => {
        const runner = createRunner(fn, { cacheDir: manifest.cacheDir, probe: true });
        try {
            await runner.start();
            const inv = await runner.invoke(EVENTS.seed);
            assert.strictEqual(inv.cold, true);
            assert.deepStrictEqual(inv.probe!.tmp_at_start, [], "nothing from an earlier environment");
        } finally {
            await runner.stop();
        }
    });

    it("the user-namespace sandbox (what a non-root user gets: unshare -rm) gives the same read-only root and answers", async () => {
        const runner = createRunner(fn, { cacheDir: manifest.cacheDir, sandbox: "userns", probe: true });
        try {
            await runner.start();
            const inv = await runner.invoke(EVENTS.seed);
            assert.strictEqual((inv.response as any)?.statusCode, 200, inv.body.slice(0, 300));
            assert.deepStrictEqual(inv.probe!.writable, { "/var/task": "EROFS", "/opt": "EROFS", "/var/runtime": "EROFS", "/var/lang": "EROFS", "/tmp": "writable" });
            assert.deepStrictEqual(inv.probe!.sys_path.slice(0, 3), ["/var/task", "/opt/python/lib/python3.12/site-packages", "/opt/python"]);
        } finally {
            await runner.stop();
        }
    });

    it("the prod stack's planned build: dev's code and layer bytes, its own 3,008 MB, and ONNX threads of its vCPU share (2) on 2 CPUs", async () => {
        const prod = await stackBuild("prod");
        const digests = (f: DeployedFunction) => [f.code, ...f.layers].map((a) => (a && "zip" in a ? a.sha256 ?? fileSha256(a.zip, manifest.cacheDir) : "?"));
        assert.deepStrictEqual(digests(prod.fn), digests(fn), "prod deploys the same code zip and layer zips as dev");
        assert.strictEqual(prod.fn.memoryMb, 3008);
        const cpus = Math.min(2, os.availableParallelism());
        const runner = createRunner(prod.fn, { cacheDir: manifest.cacheDir, cpus });
        let log: string[] = [];
        let inv: Invocation;
        try {
            await runner.start();
            inv = await runner.invoke(EVENTS.seed);
        } finally {
            log = (await runner.stop()).log;
        }
        assert.strictEqual(inv.functionError, undefined, inv.body.slice(0, 500));
        const body = bodyOf(inv);
        assert.strictEqual(body.count, 1);
        assert.strictEqual(body.dimension, 384);
        const loaded = modelLoaded(log);
        assert.strictEqual(loaded.length, 1, JSON.stringify(loaded));
        // round(3008 / 1769) = 2 threads, capped by the CPUs the environment may use.
        assert.strictEqual(loaded[0].threads, Math.min(cpus, 2), JSON.stringify(loaded[0]));
        console.log(`      prod (3,008 MB) on ${cpus} CPU(s): ${loaded[0].threads} ONNX threads; cold ${inv.timeToFirstResponseMs!.toFixed(0)} ms to first response, init ${inv.initMs?.toFixed(0)} ms`);
    });

    it("reports a runtime failure (handler not found) as a function error and leaves nothing running", async () => {
        const runner = createRunner({ ...fn, handler: "app.handler.no_such_handler" }, { cacheDir: manifest.cacheDir }) as ZipRunner;
        let pids: number[] = [];
        try {
            await runner.start();
            const inv = await runner.invoke(EVENTS.seed);
            pids = runner.processIds();
            assert.strictEqual(inv.functionError, "Runtime.HandlerNotFound", inv.body);
        } finally {
            await runner.stop();
        }
        assert.deepStrictEqual(await allGone(pids), []);
    });

    describe("the same stack with the model from S3 (modelDelivery \"s3\": moto serves the uncompressed archive)", () => {
        let s3: { manifest: DeploymentManifest; fn: DeployedFunction };
        let inv: Invocation;
        let layerInv: Invocation;
        let start: Awaited<ReturnType<ZipRunner["start"]>>;
        before(async () => {
            s3 = await devVariant({ "ml-lambda:modelDelivery": "s3" });
            ({ start, inv } = await coldOnce(s3.fn, s3.manifest.cacheDir, EVENTS.seed, true));
            layerInv = (await coldOnce(fn, manifest.cacheDir, EVENTS.seed)).inv;
        });

        it("fetches the .tar from S3 into /tmp at init, through the runtime's boto3, and answers the same embeddings", () => {
            assert.deepStrictEqual(s3.fn.s3Objects.map((o) => o.key), [s3.fn.environment.MODEL_KEY]);
            assert.match(s3.fn.environment.MODEL_KEY, /^models\/all-MiniLM-L6-v2\/[0-9a-f]{64}\.tar$/);
            assert.strictEqual(s3.fn.environment.MODEL_DIR, undefined);
            assert.ok(start.s3Endpoint?.startsWith("http://127.0.0.1:"));
            const probe = inv.probe!;
            assert.deepStrictEqual(probe.tmp_now, ["ml-lambda-model"]);
            assert.ok(inv.tmpUsedBytes! > 50e6, "the model was unpacked into /tmp");
            const std = "/var/lang/lib/python3.12/";
            assert.ok(probe.modules["boto3"].startsWith(`${std}site-packages/boto3/`), probe.modules["boto3"]);
            assert.ok((probe.connects ?? []).some((c) => c.includes("127.0.0.1")), `connects: ${probe.connects}`);
            const a = bodyOf(inv).embeddings[0] as number[];
            const b = bodyOf(layerInv).embeddings[0] as number[];
            assert.ok(a.every((x, i) => Math.abs(x - b[i]) < 1e-6), "the same model either way");
            console.log(`      cold, model from S3: ${inv.timeToFirstResponseMs!.toFixed(0)} ms; model in a layer: ${layerInv.timeToFirstResponseMs!.toFixed(0)} ms (1 CPU)`);
        });

        for (const which of ["emulator", "moto"] as const) {
            it(`a port in use (${which}): names the port, and nothing is left running`, async () => {
                const server = net.createServer();
                await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
                const port = (server.address() as net.AddressInfo).port;
                const runner = createRunner(s3.fn, { cacheDir: s3.manifest.cacheDir, ports: { [which]: port } }) as ZipRunner;
                try {
                    await assert.rejects(runner.start(), (e: Error) => e instanceof RunError && e.message.includes(`port ${port} on 127.0.0.1 is in use`));
                    assert.deepStrictEqual(runner.processIds(), []);
                } finally {
                    server.close();
                }
            });
        }

        it("a moto that fails to start: its own output, and nothing left running", async () => {
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "run-e2e-"));
            const fake = path.join(dir, "moto_server");
            fs.writeFileSync(fake, "#!/bin/sh\necho 'ImportError: cannot import name werkzeug' >&2\nexit 3\n", { mode: 0o755 });
            const runner = createRunner(s3.fn, { cacheDir: s3.manifest.cacheDir, hostEnv: { ...process.env, ML_LAMBDA_MOTO_SERVER: fake } }) as ZipRunner;
            await assert.rejects(runner.start(), (e: Error) => e instanceof RunError && /moto server \(.*\) exited during start \(code 3\):\n.*cannot import name werkzeug/.test(e.message));
            assert.deepStrictEqual(runner.processIds(), []);
        });
    });

    it("a uv project as the requirements (pyproject.toml + uv.lock, [tool.ml-lambda] omit): the lock's versions are built, measured, deployed and imported", async () => {
        // test/fixtures/uv-onnx holds numpy below the bundled profile's pin, so the version the function imports
        // tells the lock's build apart from the profile's.
        const project = path.join(REPO, "test", "fixtures", "uv-onnx");
        const locked = /\[\[package\]\]\nname = "numpy"\nversion = "([^"]+)"/.exec(fs.readFileSync(path.join(project, "uv.lock"), "utf8"))?.[1];
        const profile = /^numpy==(\S+)/m.exec(fs.readFileSync(path.join(REPO, "python", "requirements-onnx.txt"), "utf8"))?.[1];
        assert.ok(locked && profile && locked !== profile, `the fixture locks numpy ${locked}, the profile pins ${profile}`);
        const uv = await devVariant({ "ml-lambda:requirements": "test/fixtures/uv-onnx/pyproject.toml" });
        const { inv } = await coldOnce(uv.fn, uv.manifest.cacheDir, EVENTS.seed, true);
        const layerInv = (await coldOnce(fn, manifest.cacheDir, EVENTS.seed)).inv;
        assert.strictEqual(inv.functionError, undefined, inv.body.slice(0, 500));
        // numpy came from the layer built from the lock, at the locked version.
        const numpyOrigin = inv.probe!.modules["numpy"];
        assert.ok(numpyOrigin.startsWith("/opt/python/numpy/"), numpyOrigin);
        const depLayer = uv.fn.layers[0]; // the dependency layer comes first (the model's, when it ships, after it)
        assert.ok("zip" in depLayer, "a built dependency layer");
        const listing = spawnSync("unzip", ["-Z1", depLayer.zip], { encoding: "utf8", maxBuffer: 64 << 20 }).stdout;
        assert.match(listing, new RegExp(`^python/numpy-${locked!.replace(/\./g, "\\.")}\\.dist-info/METADATA$`, "m"));
        assert.doesNotMatch(listing, /^python\/(pytest|pluggy|iniconfig)[-/]/m, "the dev group stays out of the layer");
        // [tool.ml-lambda] omit: huggingface-hub and what only it brought in are gone, so the model ships in a layer.
        assert.doesNotMatch(listing, /^python\/(huggingface_hub|hf_xet|httpx2|google\/protobuf|flatbuffers)\//m, "the omitted distributions stay out");
        assert.ok(uv.sizeReport.omitted.some((o: { name: string; reason: string }) => o.name === "hf-xet" && /^huggingface[-_]hub$/i.test(o.reason)), JSON.stringify(uv.sizeReport.omitted));
        assert.strictEqual(uv.fn.environment.MODEL_DIR, "/opt/ml/model");
        assert.deepStrictEqual(uv.fn.s3Objects, []);
        // The size report measured this layer (the decision was taken on it), and the embeddings match the dev stack's.
        const unzipped = Number(spawnSync("python3", ["-c", "import sys, zipfile; print(sum(i.file_size for i in zipfile.ZipFile(sys.argv[1]).infolist()))", depLayer.zip], { encoding: "utf8" }).stdout);
        assert.strictEqual(uv.sizeReport.layerBytes, unzipped, "the size report measured the layer that is deployed");
        assert.ok(uv.sizeReport.packages.some((p: { name: string }) => /^numpy$/i.test(p.name)), "numpy among the measured packages");
        const a = bodyOf(inv).embeddings[0] as number[];
        const b = bodyOf(layerInv).embeddings[0] as number[];
        assert.ok(a.every((x, i) => Math.abs(x - b[i]) < 1e-5), "the same embeddings as the dev stack's build");
        console.log(`      uv project: numpy ${locked} from the lock; model ${uv.fn.environment.MODEL_DIR ? "in a layer" : "from S3"}; cold ${inv.timeToFirstResponseMs!.toFixed(0)} ms to first response (1 CPU)`);
    });

    it("the distributions the ONNX profile's omit lines leave out are never imported: the unpruned layer, probed over every request shape", async () => {
        // The layer as pip installs it (the same file without its omit lines: the layer the component built before).
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "run-e2e-"));
        const profile = path.join(REPO, "python", "requirements-onnx.txt");
        const unpruned = path.join(dir, "requirements-onnx.txt");
        fs.writeFileSync(unpruned, fs.readFileSync(profile, "utf8").split("\n").filter((l) => !/^\s*#\s*ml-lambda:omit/.test(l)).join("\n"));
        const cacheDir = manifest.cacheDir;
        const opts = { runtime: "python3.12" as const, architecture: "x86_64" as const, cacheDir, log: () => undefined, quiet: true };
        const pruned = buildLayer({ ...opts, requirements: profile });
        const full = buildLayer({ ...opts, requirements: unpruned });
        assert.ok(pruned.omitted && pruned.omitted.length >= 4, "the profile omits something");
        assert.deepStrictEqual(full.omitted ?? [], []);
        // Every file of every omitted distribution, as it would sit under /opt/python.
        const site = path.join(full.dir, "python");
        const omittedFiles = new Set<string>();
        for (const ent of fs.readdirSync(site).filter((e) => e.endsWith(".dist-info"))) {
            const name = /^Name:\s*(\S+)/m.exec(fs.readFileSync(path.join(site, ent, "METADATA"), "utf8"))?.[1];
            if (!pruned.omitted.some((o) => o.name === name)) continue;
            for (const rel of parseRecord(fs.readFileSync(path.join(site, ent, "RECORD"), "utf8"))) {
                if (!rel.startsWith("..")) omittedFiles.add(`/opt/python/${rel}`);
            }
        }
        assert.ok([...omittedFiles].some((f) => f.startsWith("/opt/python/huggingface_hub/")), "huggingface_hub's files are among them");
        const omittedDirs = new Set([...omittedFiles].map((f) => f.split("/").slice(0, 4).join("/")));
        const fullFn: DeployedFunction = { ...fn, layers: [{ zip: full.zipPath, sha256: fileSha256(full.zipPath, cacheDir) }, ...fn.layers.slice(1)] };
        const runner = createRunner(fullFn, { cacheDir, probe: true });
        const origins = new Set<string>();
        try {
            await runner.start();
            for (const [name, event] of Object.entries(EVENTS)) {
                const inv = await runner.invoke(event);
                assert.ok(inv.probe, name);
                for (const o of Object.values(inv.probe.modules)) for (const p of o.replace(/^namespace:/, "").split(",")) origins.add(p);
            }
        } finally {
            await runner.stop();
        }
        const hits = [...origins].filter((o) => omittedFiles.has(o) || [...omittedDirs].some((d) => o === d || o.startsWith(`${d}/`)));
        assert.deepStrictEqual(hits, [], "a module of an omitted distribution was imported");
        assert.ok([...origins].some((o) => o.startsWith("/opt/python/tokenizers/")) && [...origins].some((o) => o.startsWith("/opt/python/onnxruntime/")), "the probe saw the layer's imports");
    });

    it("Ctrl-C during the cold start stops the function and the emulator (ml-lambda invoke --stack dev)", async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "run-e2e-"));
        fs.writeFileSync(path.join(dir, "e.json"), JSON.stringify(EVENTS.seed));
        const child = spawn(TS_NODE, ["--transpile-only", "cli/main.ts", "invoke", "--stack", "dev", "--event", path.join(dir, "e.json"), "--json"], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
        let err = "";
        child.stderr.on("data", (c: Buffer) => { err += c.toString(); });
        const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
        const until = Date.now() + 120_000;
        while (!/runtime: CPython/.test(err) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
        assert.match(err, /runtime: CPython/, err);
        await new Promise((r) => setTimeout(r, 150)); // into the runtime's init (~0.4 s with the model in a layer)
        const pids = descendants(child.pid!);
        assert.ok(pids.length >= 2, `the sandbox and the emulator are running: ${pids}`);
        child.kill("SIGINT");
        assert.strictEqual(await exited, 130, err);
        assert.match(err, /interrupted; stopping the function, the emulator\n/);
        assert.deepStrictEqual(await allGone(pids), []);
    });

    describe("clear errors", () => {
        it("no interpreter for the runtime: names the variable, the version needed and how to get one", async () => {
            const runner = createRunner(fn, { cacheDir: manifest.cacheDir, hostEnv: { ...process.env, ML_LAMBDA_RUNTIME_PYTHON: "/nonexistent/python3.12" } });
            await assert.rejects(runner.start(), (e: Error) => e instanceof RunError && /ML_LAMBDA_RUNTIME_PYTHON=\/nonexistent\/python3\.12 does not run: the function's runtime is python3\.12; install CPython 3\.12 with `pyenv install 3\.12`/.test(e.message));
            const py313 = path.join(os.homedir(), ".pyenv", "versions", "3.13.0", "bin", "python3.13");
            if (fs.existsSync(py313)) {
                const wrong = createRunner(fn, { cacheDir: manifest.cacheDir, hostEnv: { ...process.env, ML_LAMBDA_RUNTIME_PYTHON: py313 } });
                await assert.rejects(wrong.start(), /is Python 3\.13\.0, but the function's runtime is python3\.12 \(needs 3\.12\.x\)/);
            }
        });

        it("a stack whose build was never planned: exit 2, and the command that makes it", () => {
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "run-e2e-"));
            fs.writeFileSync(path.join(dir, "e.json"), "{}");
            const r = spawnSync(TS_NODE, ["--transpile-only", "cli/main.ts", "invoke", "--stack", "staging", "--event", path.join(dir, "e.json")], { cwd: REPO, encoding: "utf8" });
            assert.strictEqual(r.status, 2, r.stderr);
            assert.match(r.stderr, /ml-lambda invoke: no build recorded for stack "staging" .*run `npm run plan -- --stack staging` first/);
        });
    });
});
