/**
 * What the benchmark runs, as deployed, through the faithful run (cli/run):
 *  - zip_onnx, zip_onnx_int8: the dev stack's build (code zip and dependency layer with bytecode, the model in a
 *    layer of its own at /opt/ml/model), planned with backend onnx / onnx-int8 by bench/plan-variant.ts, exactly as
 *    `ml-lambda plan` records it;
 *  - seed: bench/seed/app (the seed guide's handler) as its deployed form would be: the torch requirements profile
 *    (python/requirements.txt) built for python3.12 x86_64 by the packaging code (PyPI's torch, with its CUDA
 *    wheels: 5.7 GB, so an image, never a zip), with its bytecode (an image's `pip install` compiles; here a
 *    second layer holding only the .pyc, see bench/py/bytecode_layer.py), and the model baked at /opt/ml/model as
 *    the component's image path bakes it;
 *  - torch: our handler with MODEL_BACKEND=torch in that same image-like layout (for the largest-request figures).
 * One cold start = a fresh runner (a new environment: fresh /tmp, new processes): the cold invoke, then warm ones.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { buildLayer, zipDirectory } from "../components/packaging";
import { createRunner, deployedFunction, findRuntimePython } from "../cli/run";
import type { DeployedFunction, DeploymentManifest, Invocation } from "../cli/run";

const ROOT = path.resolve(__dirname, "..");

/**
 * The dev stack's build with config overrides, recorded as `ml-lambda plan` records it, with the component's size
 * report. `projectDir`: another checkout of this project (e.g. an older commit, to measure what it deployed).
 */
export function plannedVariant(overrides: Record<string, string | boolean>, env: NodeJS.ProcessEnv, projectDir: string = ROOT): { fn: DeployedFunction; manifest: DeploymentManifest; sizeReport?: any } {
    const r = spawnSync(path.join(projectDir, "node_modules", ".bin", "ts-node"), ["--transpile-only", "bench/plan-variant.ts", JSON.stringify(overrides)], {
        cwd: projectDir, encoding: "utf8", env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024, timeout: 3600_000,
    });
    const line = r.stdout.trim().split("\n").filter((l) => l.startsWith("{")).pop();
    if (r.status !== 0 || !line) throw new Error(`planning dev with ${JSON.stringify(overrides)} in ${projectDir} failed (exit ${r.status}):\n${r.stderr.slice(-3000)}`);
    const { sizeReport, ...manifest } = JSON.parse(line) as DeploymentManifest & { sizeReport?: any };
    const fn = deployedFunction(manifest); // its code zip is kept by content (cli/run/manifest.ts)
    return { fn, manifest, sizeReport };
}

/** A layer-shaped tree holding only the bytecode of `layerDir` for the runtime's Python (cached by both). */
export function bytecodeLayer(layerDir: string, key: string, runtime: string, cacheDir: string, log: (l: string) => void): { dir: string; pycBytes: number; pyFiles: number } {
    const python = findRuntimePython(runtime);
    const out = path.join(cacheDir, "bench", "bytecode", `${key.slice(0, 16)}-${python.version}`);
    const marker = path.join(out, "..", `${path.basename(out)}.json`);
    if (fs.existsSync(marker)) {
        const m = JSON.parse(fs.readFileSync(marker, "utf8"));
        return { dir: out, pycBytes: m.pyc_bytes, pyFiles: m.py_files };
    }
    log(`compiling ${layerDir} to bytecode with ${python.executable} (once, cached in ${out})`);
    fs.rmSync(out, { recursive: true, force: true });
    const r = spawnSync(python.executable, ["-I", path.join(ROOT, "bench", "py", "bytecode_layer.py"), layerDir, out], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
    if (r.status !== 0) throw new Error(`bytecode_layer.py failed:\n${r.stderr.slice(-3000)}`);
    const result = JSON.parse(r.stdout.trim().split("\n").pop()!);
    fs.writeFileSync(marker, JSON.stringify(result));
    return { dir: out, pycBytes: result.pyc_bytes, pyFiles: result.py_files };
}

/** The torch profile's layer (built by the packaging code, cached) and its bytecode. */
export function torchProfile(cacheDir: string, log: (l: string) => void) {
    const layer = buildLayer({ requirements: path.join(ROOT, "python", "requirements.txt"), runtime: "python3.12", architecture: "x86_64", cacheDir, log });
    if (layer.missingWheels.length) throw new Error(`the torch profile has no wheel for ${layer.missingWheels.map((m) => m.name).join(", ")}`);
    const pyc = bytecodeLayer(layer.dir, layer.key, "python3.12", cacheDir, log);
    return { layer, pyc };
}

const base = (over: Partial<DeployedFunction>): DeployedFunction => ({
    name: "bench", packageType: "Zip", runtime: "python3.12", handler: "app.handler.lambda_handler", architecture: "x86_64",
    memoryMb: 1769, timeoutS: 60, ephemeralStorageMb: 512, region: "us-east-1", environment: {}, layers: [], s3Objects: [], ...over,
});

/** The seed guide's handler in the image-like layout (see the header). */
export function seedVariant(o: { cacheDir: string; torchModelDir: string; log: (l: string) => void }): DeployedFunction {
    const code = path.join(o.cacheDir, "bench", "seed-code.zip");
    zipDirectory(path.join(ROOT, "bench", "seed"), code, { exclude: ["__pycache__", "*.pyc"] });
    const { layer, pyc } = torchProfile(o.cacheDir, o.log);
    return base({
        name: "seed-embeddings",
        // The seed guide sets nothing else; HF_HUB_OFFLINE keeps sentence-transformers off the network, as ours.
        environment: { MODEL_DIR: "/opt/ml/model", HF_HUB_OFFLINE: "1" },
        code: { zip: code },
        layers: [{ dir: layer.dir }, { dir: pyc.dir }],
        extraMounts: [{ source: o.torchModelDir, target: "/opt/ml/model" }],
    });
}

/** Our handler on the torch backend, image-like (the torch profile cannot be a zip). */
export function torchVariant(o: { cacheDir: string; codeZip: string; torchModelDir: string; log: (l: string) => void; environment: Record<string, string> }): DeployedFunction {
    const { layer, pyc } = torchProfile(o.cacheDir, o.log);
    const env = Object.fromEntries(Object.entries(o.environment).filter(([k]) => !k.startsWith("MODEL_") || k === "MODEL_NAME"));
    return base({
        name: "torch-embeddings",
        environment: { ...env, MODEL_BACKEND: "torch", MODEL_DIR: "/opt/ml/model" },
        code: { zip: o.codeZip },
        layers: [{ dir: layer.dir }, { dir: pyc.dir }],
        extraMounts: [{ source: o.torchModelDir, target: "/opt/ml/model" }],
    });
}

export function median(xs: number[]): number {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** The seed's time over the variant's, round by round (the same load), then the median of those. */
export function pairedRatio(seed: ColdSample[], variant: ColdSample[]): number {
    return median(variant.map((x, i) => seed[i].firstResponseMs / x.firstResponseMs));
}

/** Bytes the requirements' omit lines left out, from a size report. */
export function omittedBytes(report: { omitted?: Array<{ bytes: number }> }): number {
    return (report.omitted ?? []).reduce((a, o) => a + o.bytes, 0);
}

export interface ColdSample {
    firstResponseMs: number;
    initMs: number;
    firstInvokeMs: number;
    peakRssMb: number;
    tmpUsedMb: number;
    warmInvokeMs: number[];
    warmRoundTripMs: number[];
}

/** One fresh environment: the cold invoke, then `warm` more of the same event. Throws unless every answer is 200. */
export async function coldStart(fn: DeployedFunction, o: { cacheDir: string; cpus: number; event: unknown; warm: number }): Promise<ColdSample> {
    const runner = createRunner(fn, { cacheDir: o.cacheDir, cpus: o.cpus, log: (l) => process.stderr.write(`[bench] ${l}\n`) });
    const check = (inv: Invocation) => {
        const code = (inv.response as { statusCode?: number } | undefined)?.statusCode;
        if (inv.functionError || code !== 200) throw new Error(`${fn.name}: ${inv.functionError ?? `status ${code}`}: ${inv.body.slice(0, 500)}`);
    };
    try {
        await runner.start();
        const cold = await runner.invoke(o.event);
        check(cold);
        const warm: Invocation[] = [];
        for (let i = 0; i < o.warm; i++) {
            const w = await runner.invoke(o.event);
            check(w);
            warm.push(w);
        }
        const summary = await runner.stop();
        return {
            firstResponseMs: cold.timeToFirstResponseMs!,
            initMs: cold.initMs ?? NaN,
            firstInvokeMs: cold.invokeMs ?? NaN,
            peakRssMb: summary.peakRssMb ?? NaN,
            tmpUsedMb: (summary.tmpUsedBytes ?? 0) / 1024 / 1024,
            warmInvokeMs: warm.map((w) => w.invokeMs ?? NaN),
            warmRoundTripMs: warm.map((w) => w.roundTripMs),
        };
    } finally {
        await runner.stop();
    }
}

/** One invocation of a heavy event in a fresh environment on one CPU: its duration alone and the peak RSS. */
export async function heavyRequest(fn: DeployedFunction, o: { cacheDir: string; event: unknown }) {
    const runner = createRunner(fn, { cacheDir: o.cacheDir, cpus: 1, log: (l) => process.stderr.write(`[bench] ${l}\n`) });
    try {
        await runner.start();
        await runner.invoke({ texts: ["warm up"] }); // the cold start is not the request's cost
        const inv = await runner.invoke(o.event);
        const code = (inv.response as { statusCode?: number } | undefined)?.statusCode;
        if (inv.functionError || code !== 200) throw new Error(`${fn.name}: ${inv.functionError ?? `status ${code}`}: ${inv.body.slice(0, 500)}`);
        const summary = await runner.stop();
        return { durationMs: inv.invokeMs ?? NaN, peakRssMb: summary.peakRssMb ?? NaN };
    } finally {
        await runner.stop();
    }
}
