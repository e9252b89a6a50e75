/**
 * `npm run test:image`: the image path end to end in a real Docker engine, the way the component builds, pushes
 * and Lambda runs it (scripts/test-image.sh sets up the environment, then runs this).
 *
 *  1. an engine: one that answers, else scripts/docker-engine.sh installs docker.io and starts dockerd (stopped
 *     again at the end); none to be had → ONE line saying why, exit 0
 *  2. the base image: a local stand-in for public.ecr.aws/lambda/python (scripts/lambda-base-standin.sh, cached)
 *  3. a test-written stack (packaging "image", backend "onnx"; "torch" too with ML_LAMBDA_SLOW=1) run through the
 *     real program under Pulumi's mock engine: the docker.Image and aws.lambda.Function inputs it registers
 *  4. the staged context built the way docker.Image builds it (Engine API, BuildKit), cold then cached; layers
 *     checked (the model once; the check and smoke steps leave nothing); the torch of the image checked
 *  5. run as Lambda runs it (non-root, read-only root, tmpfs /tmp, memory and CPU share, the function's
 *     environment), invoked through the emulator: cold start, warm invokes, embeddings vs the zip path's code
 *     and vs sentence-transformers (cosine ≥ 0.999)
 *  6. pushed to a local registry: the repo digest docker.Image reports must be the pushed manifest's digest,
 *     and that manifest a single-platform one (Lambda rejects an index)
 *  7. bad input: a failing Dockerfile step is reported with its output; an image that does not answer, with its logs
 * Images it built are removed unless ML_LAMBDA_KEEP_IMAGES=1. Figures go to .cache/ml-lambda/test-image/last-run.json.
 * ML_LAMBDA_IMAGE_PROFILES=onnx,torch picks profiles; the torch one needs the PyTorch CPU index (download.pytorch.org,
 * or a mirror in ML_LAMBDA_TORCH_INDEX_URL) and fails, naming it, when the build cannot reach it.
 */
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import { DockerEngine, DockerError } from "../components/docker/engine";
import { ImageRunner, LAMBDA_USER } from "../cli/imageRunner";
import { vcpuShare } from "../cli/run/sandbox";
import { buildStackImage, ImageStackPlan, localImageName, planImageStack } from "../cli/imageStack";
import { assignments, standinBaseImage, startLocalEngine } from "./local-engine";

const ROOT = path.resolve(__dirname, "..");
const KEEP = process.env.ML_LAMBDA_KEEP_IMAGES === "1";
const SLOW = process.env.ML_LAMBDA_SLOW === "1";
const VENV_PY = path.join(ROOT, ".cache", "venv", "bin", "python");
const PARITY_FLOOR = 0.999;
const WARM_INVOKES = 5;
/** Fresh containers per cold-start figure (median reported); each is a new execution environment. */
const COLD_STARTS = Number(process.env.ML_LAMBDA_COLD_STARTS ?? 3);
/** The cold-start event: a small request, so the figure is the start, not the work. */
const COLD_EVENT = { texts: ["How do I reset my password?", "The cat is sleeping on the sofa."] };

const t0 = Date.now();
const say = (line: string) => process.stdout.write(`[test:image ${((Date.now() - t0) / 1000).toFixed(0).padStart(4)}s] ${line}\n`);
const failures: string[] = [];
function check(ok: boolean, what: string, detail = ""): void {
    say(`${ok ? "ok  " : "FAIL"} ${what}${detail ? `: ${detail}` : ""}`);
    if (!ok) failures.push(`${what}${detail ? `: ${detail}` : ""}`);
}

function sh(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; stdin?: string } = {}): { code: number; stdout: string; stderr: string } {
    const r = spawnSync(cmd, args, { cwd: ROOT, env: opts.env ?? process.env, encoding: "utf8", input: opts.stdin, stdio: ["pipe", "pipe", "inherit"], maxBuffer: 256 * 1024 * 1024 });
    return { code: r.status ?? 1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

function decodeEmbeddings(body: any): number[][] {
    return (body.embeddings as string[]).map((b64) => {
        const buf = Buffer.from(b64, "base64");
        return Array.from(new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4));
    });
}

function cosine(a: number[], b: number[]): number {
    let dot = 0, na = 0, nb = 0;
    for (let i = 0; i < a.length; i++) { dot += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; }
    return dot / Math.sqrt(na * nb);
}

/** A stack file for the image path, beside a copy of the project file and a program that is the project's own. */
function writeStack(profile: string): { projectDir: string; stack: string } {
    const projectDir = fs.mkdtempSync(path.join(os.tmpdir(), `ml-lambda-image-stack-`));
    fs.copyFileSync(path.join(ROOT, "Pulumi.yaml"), path.join(projectDir, "Pulumi.yaml"));
    // The project's own program, its relative imports pointed at the repository: a copy (not a re-export), so each
    // offline run executes it afresh.
    const program = fs.readFileSync(path.join(ROOT, "index.ts"), "utf8").replace(/from "\.\//g, `from "${ROOT}/`);
    fs.writeFileSync(path.join(projectDir, "index.ts"), program);
    const stack = `image-${profile}`;
    fs.writeFileSync(path.join(projectDir, `Pulumi.${stack}.yaml`), [
        `# Written by scripts/test-image.ts: the image path with the ${profile} backend.`,
        "config:",
        "  aws:region: us-east-1",
        "  ml-lambda:packaging: image",
        `  ml-lambda:backend: ${profile}`,
        "  ml-lambda:runtime: python3.12",
        "  ml-lambda:architecture: x86_64",
        "  ml-lambda:memorySize: 1769",
        "  ml-lambda:timeout: 60",
        "  ml-lambda:snapStart: false",
        "  ml-lambda:forceDestroy: true",
        "",
    ].join("\n"));
    return { projectDir, stack };
}

/** Reference embeddings from .cache/venv: the function's own code (the zip path's handler) and sentence-transformers. */
function references(texts: string[], modelDir: string, backend: string, sourceDir: string): { zipCode: number[][]; sentenceTransformers: number[][] } {
    const script = `
import base64, json, os, sys
texts, model_dir, backend, source = json.load(sys.stdin)
os.environ.update(MODEL_DIR=model_dir, MODEL_BACKEND=backend, HF_HUB_OFFLINE="1")
sys.path.insert(0, ${JSON.stringify(path.join(ROOT, "python", "src"))})
sys.path.insert(0, ${JSON.stringify(path.join(ROOT, "python", "tests"))})
from conftest import LambdaContext, real_model_dir
source = source or str(real_model_dir())
import app.handler as h
out = h.lambda_handler({"texts": texts, "encoding": "base64"}, LambdaContext())
zip_code = json.loads(out["body"])["embeddings"]
from sentence_transformers import SentenceTransformer
st = SentenceTransformer(source, device="cpu").encode(texts, normalize_embeddings=True, convert_to_numpy=True)
print(json.dumps({"zipCode": zip_code, "st": [base64.b64encode(v.astype("<f4").tobytes()).decode() for v in st]}))
`;
    const r = spawnSync(VENV_PY, ["-c", script], { input: JSON.stringify([texts, modelDir, backend, sourceDir]), encoding: "utf8", maxBuffer: 64 * 1024 * 1024, env: { ...process.env, TOKENIZERS_PARALLELISM: "false" } });
    if (r.status !== 0) throw new Error(`reference embeddings failed:\n${r.stderr.slice(-3000)}`);
    const j = JSON.parse(r.stdout.trim().split("\n").pop()!);
    return { zipCode: decodeEmbeddings({ embeddings: j.zipCode }), sentenceTransformers: decodeEmbeddings({ embeddings: j.st }) };
}

function corpusTexts(): string[] {
    const r = spawnSync(VENV_PY, ["-c", "import json, sys; sys.path.insert(0, 'python/tests'); import corpus; print(json.dumps(corpus.SENTENCES))"], { cwd: ROOT, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`cannot read python/tests/corpus.py: ${r.stderr}`);
    return JSON.parse(r.stdout);
}

function httpGet(url: string, headers: Record<string, string>): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
    return new Promise((resolve, reject) => {
        http.get(url, { headers }, (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (c: Buffer) => chunks.push(c));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        }).on("error", reject);
    });
}

const SINGLE_MANIFEST = ["application/vnd.docker.distribution.manifest.v2+json", "application/vnd.oci.image.manifest.v1+json"];
const INDEX_TYPES = ["application/vnd.docker.distribution.manifest.list.v2+json", "application/vnd.oci.image.index.v1+json"];

interface ProfileResult {
    profile: string;
    context: string;
    build: { coldSeconds: number; coldCachedSteps: number; cachedSeconds: number; cachedCachedSteps: number; steps: number; network: string };
    image: { bytes: number; layers: Array<{ createdBy: string; bytes: number }> };
    run?: { coldFirstResponseMs: { median: number; min: number; max: number; samples: number[] }; initReportMs: number[]; peakRssMb: number[]; tmpUsedBytes: number[]; warmMedianMs: number; warmMs: number[]; cpus: string };
    parity?: { vsZipCodeMin: number; vsSentenceTransformersMin: number; texts: number };
    push?: { repoDigest: string; manifestDigest: string; mediaType: string; seconds: number };
    torch?: unknown;
}

async function runProfile(engine: DockerEngine, profile: string, standin: (minor: string) => string, registry: string, cleanup: string[]): Promise<ProfileResult | undefined> {
    say(`---- profile ${profile}`);
    const { projectDir, stack } = writeStack(profile);
    try {
        return await runStack(engine, profile, projectDir, stack, standin, registry, cleanup);
    } finally {
        fs.rmSync(projectDir, { recursive: true, force: true });
    }
}

async function runStack(engine: DockerEngine, profile: string, projectDir: string, stack: string, standin: (minor: string) => string, registry: string, cleanup: string[]): Promise<ProfileResult | undefined> {
    say(`planning stack ${stack} (the project's program under Pulumi's mock engine; builds the model and stages the context)`);
    const planned: ImageStackPlan = await planImageStack(projectDir, stack);
    const { image, fn } = planned;
    check(planned.packaging === "image" && fn.packageType === "Image", "the stack deploys an image", `packaging ${planned.packaging}, packageType ${fn.packageType}`);
    check(image.builderVersion === "BuilderBuildKit", "docker.Image builds with BuildKit", image.builderVersion);
    const minor = image.args.PYTHON_VERSION;
    const base = standin(minor);
    // Tag as docker.Image tags: the repository URL (here the local registry) and the context-hash tag.
    const { name: localName, repository: repoPath, tag } = localImageName(image.imageName, registry);
    cleanup.push(localName);
    say(`building ${image.context} as ${localName} (BuildKit through the Engine API, platform ${image.platform}, BASE_IMAGE=${base})`);
    // ML_LAMBDA_TORCH_INDEX_URL: a mirror of the PyTorch CPU index, for machines that cannot reach download.pytorch.org.
    const buildOnce = (noCache: boolean) => buildStackImage(engine, planned, {
        tag: localName, baseImage: base, torchIndexUrl: process.env.ML_LAMBDA_TORCH_INDEX_URL, noCache, log: (l) => say(`  build | ${l}`),
    });
    const first = await buildOnce(process.env.ML_LAMBDA_IMAGE_NO_CACHE === "1");
    say(`build 1: ${first.seconds.toFixed(1)} s, ${first.cachedSteps} of ${first.steps.length} steps from cache (network ${first.network}${first.network === "host" ? ": the engine has no bridge network" : ""})`);
    const cached = await buildOnce(false);
    say(`build 2: ${cached.seconds.toFixed(1)} s, ${cached.cachedSteps} of ${cached.steps.length} steps from cache`);
    check(cached.id === first.id, "an unchanged context rebuilds to the same image", cached.id.slice(7, 19));

    const inspect = (await engine.inspectImage(localName))!;
    check(inspect.Architecture === "amd64" && inspect.Os === "linux", "one platform, as Lambda needs", `${inspect.Os}/${inspect.Architecture}`);
    const history = await engine.history(localName);
    const layers = history.filter((h) => h.Size > 0 || /RUN|COPY/.test(h.CreatedBy)).reverse()
        .map((h) => ({ createdBy: h.CreatedBy.replace(/^\/bin\/sh -c (#\(nop\) )?/, "").replace(/^RUN \|\d+ \S+ \/bin\/sh -c /, "RUN ").replace(/\s+/g, " ") || `(base image) ${h.Comment}`.trim(), bytes: h.Size }));
    say(`image ${mb(inspect.Size)} uncompressed, ${inspect.RootFS.Layers.length} layers:`);
    for (const l of layers) say(`  ${mb(l.bytes).padStart(10)}  ${l.createdBy.slice(0, 120)}`);
    const modelBytes = dirBytes(path.join(image.context, "model"));
    const modelLayers = layers.filter((l) => l.bytes >= modelBytes * 0.95 && l.bytes <= modelBytes * 1.05);
    check(modelLayers.length === 1 && /model/.test(modelLayers[0].createdBy), "the model is stored once", `${mb(modelBytes)} model, layers of that size: ${modelLayers.map((l) => l.createdBy).join(" | ") || "none"}`);
    for (const step of ["place_model.py", "smoke.py"]) {
        const l = layers.find((x) => x.createdBy.includes(step));
        check(l !== undefined && l.bytes === 0, `the ${step} step leaves nothing in the image`, l ? `${l.bytes} bytes` : "step not found");
    }
    // The component's own measurement (fix 5): the plan run as on `pulumi up` builds the context once, measures
    // the image and reports it against the 10 GiB image limit; it must be the image just built, with the base
    // image and build network docker.Image will get.
    say("the component's own image measurement: the plan again with ML_LAMBDA_MEASURE_IMAGE=1 and ML_LAMBDA_BASE_IMAGE = the stand-in");
    process.env.ML_LAMBDA_MEASURE_IMAGE = "1";
    process.env.ML_LAMBDA_BASE_IMAGE = base;
    let measuredPlan: ImageStackPlan & { sizeReport?: any };
    try {
        measuredPlan = await planImageStack(projectDir, stack);
    } finally {
        delete process.env.ML_LAMBDA_MEASURE_IMAGE;
        delete process.env.ML_LAMBDA_BASE_IMAGE;
    }
    const rep = measuredPlan.sizeReport;
    check(rep?.mode === "image" && rep.image?.measured === true && rep.totalBytes === inspect.Size && rep.limitBytes === 10 * 1024 ** 3 && rep.availableBytes === undefined,
        "the plan measures the built image and reports it against the image limit (no zip figures)",
        `${rep?.totalBytes?.toLocaleString("en-US")} of ${rep?.limitBytes?.toLocaleString("en-US")} bytes, ${rep?.image?.layerCount} layers, ${rep?.image?.measuredWith}`);
    check(measuredPlan.image.args.BASE_IMAGE === base && measuredPlan.image.network === (first.network === "default" ? undefined : first.network),
        "docker.Image gets the measured build's base image and network", `BASE_IMAGE=${measuredPlan.image.args.BASE_IMAGE}, network ${measuredPlan.image.network}`);
    cleanup.push(`ml-lambda-measure/${fn.name.toLowerCase()}:${tag}`);

    const result: ProfileResult = {
        profile,
        context: image.context,
        build: { coldSeconds: first.seconds, coldCachedSteps: first.cachedSteps, cachedSeconds: cached.seconds, cachedCachedSteps: cached.cachedSteps, steps: first.steps.length, network: first.network },
        image: { bytes: inspect.Size, layers },
    };

    // What the image's torch is (or that it has none): Lambda has no GPU.
    // Also: the newest glibc any installed wheel needs. The stand-in is Debian 12 (glibc 2.36), Lambda's base is
    // Amazon Linux 2023 (glibc 2.34): a manylinux_2_35+ wheel would install here and fail to load on Lambda.
    const probe = await engine.runToCompletion(localName, ["-c",
        "import glob, json, os, re, sys; sys.path.insert(0, '/var/task'); names = sorted(n for n in os.listdir('/var/task') if n.lower().startswith(('torch', 'nvidia', 'triton')))\n" +
        "glibc = {}\nfor w in glob.glob('/var/task/*.dist-info/WHEEL'):\n tags = [int(m) for m in re.findall(r'manylinux_2_(\\d+)', open(w).read())]\n if tags: glibc[w.split('/')[3]] = min(tags)\n" +
        "try:\n import torch; t = [torch.__version__, torch.version.cuda]\nexcept ImportError: t = None\nprint(json.dumps({'dists': names, 'torch': t, 'glibc': glibc}))"],
    { entrypoint: ["/var/lang/bin/python3"], user: LAMBDA_USER });
    const facts = JSON.parse(probe.output.filter((l) => l.startsWith("{")).pop() ?? "{}");
    const glibc = facts.glibc as Record<string, number>;
    delete facts.glibc;
    result.torch = facts;
    const tooNew = Object.entries(glibc ?? {}).filter(([, v]) => v > 34);
    check(glibc !== undefined && tooNew.length === 0, "no installed wheel needs a glibc newer than Amazon Linux 2023's 2.34",
        tooNew.length ? tooNew.map(([k, v]) => `${k} needs 2.${v}`).join(", ") : `newest need: 2.${Math.max(0, ...Object.values(glibc ?? {}))} (${Object.keys(glibc ?? {}).length} binary wheels)`);
    if (profile === "onnx") check(facts.torch === null && facts.dists?.length === 0, "the onnx image has no torch and nothing GPU-only", JSON.stringify(facts));
    else check(Array.isArray(facts.torch) && (String(facts.torch[0]).endsWith("+cpu") || facts.torch[1] === null) && !facts.dists.some((d: string) => /^(nvidia|triton)/i.test(d)), "the image's torch is the CPU build", JSON.stringify(facts));

    // Run it as Lambda does: cold starts in fresh containers, then warm invokes and the embeddings of the corpus.
    const texts = corpusTexts();
    const runFn = { ...fn, image: { ...fn.image!, tag: localName } };
    const cold: number[] = [];
    const inits: number[] = [];
    const rss: number[] = [];
    const tmp: number[] = [];
    for (let i = 0; i < COLD_STARTS; i++) {
        const r = new ImageRunner(runFn, { engine, log: i === 0 ? (l: string) => say(`  run | ${l}`) : undefined });
        try {
            await r.start();
            const first = await r.invoke(COLD_EVENT);
            const ok = first.status === 200 && !first.functionError && (first.response as any)?.statusCode === 200;
            if (!ok) {
                check(false, "the image answers a cold invocation", `HTTP ${first.status}: ${first.body.slice(0, 300)}`);
                for (const l of r.logs().slice(-30)) say(`  log | ${l}`);
                break;
            }
            cold.push(first.timeToFirstResponseMs!);
            if (first.initMs !== undefined) inits.push(first.initMs);
            if (first.peakRssMb !== undefined) rss.push(first.peakRssMb);
            if (first.tmpUsedBytes !== undefined) tmp.push(first.tmpUsedBytes);
        } finally {
            await r.stop();
        }
    }
    if (cold.length) {
        say(`cold start, time to first response (runtime start → response, ${COLD_EVENT.texts.length} texts): median ${median(cold).toFixed(0)} ms of ${cold.map((c) => c.toFixed(0)).join(", ")}; ` +
            `emulator INIT REPORT ${inits.map((x) => x.toFixed(0)).join(", ")} ms; peak RSS of the runtime ${rss.map((x) => x.toFixed(0)).join(", ")} MB; /tmp used ${tmp.map((x) => x.toLocaleString("en-US")).join(", ")} bytes`);
        // Read from the host's /proc, as the zip runner reads its runtime: the figures the benchmark reports.
        check(rss.length === cold.length && rss.every((x) => x > 50 && x < fn.memoryMb), "the runner measures the runtime's peak RSS in the container (above 50 MB, within the memory size)",
            `${rss.map((x) => x.toFixed(0)).join(", ")} MB of ${fn.memoryMb}`);
        check(tmp.length === cold.length && tmp.every((x) => x < 1024 * 1024), "the runner reads the container's /tmp: under 1 MiB used (the model is baked, not unpacked there)",
            `${tmp.map((x) => x.toLocaleString("en-US")).join(", ")} bytes`);
    }
    const runner = new ImageRunner(runFn, { engine });
    try {
        await runner.start();
        const first = await runner.invoke({ texts, encoding: "base64" });
        const body = JSON.parse((first.response as any)?.body ?? "{}");
        check(first.status === 200 && !first.functionError && (first.response as any)?.statusCode === 200 && body.count === texts.length,
            "the image answers as a non-root user on a read-only root", `HTTP ${first.status}, function ${(first.response as any)?.statusCode}, ${body.count} embeddings of ${body.dimension}`);
        if (first.functionError || (first.response as any)?.statusCode !== 200) for (const l of runner.logs().slice(-30)) say(`  log | ${l}`);
        const warm: number[] = [];
        for (let i = 0; i < WARM_INVOKES; i++) warm.push((await runner.invoke(COLD_EVENT)).roundTripMs);
        result.run = {
            coldFirstResponseMs: { median: median(cold), min: Math.min(...cold), max: Math.max(...cold), samples: cold }, initReportMs: inits, peakRssMb: rss, tmpUsedBytes: tmp,
            warmMedianMs: median(warm), warmMs: warm, cpus: vcpuShare(fn.memoryMb).toFixed(2),
        };
        say(`warm (same event): median ${median(warm).toFixed(1)} ms of ${warm.map((w) => w.toFixed(0)).join(", ")}`);
        if (body.embeddings) {
            const got = decodeEmbeddings(body);
            say(`reference embeddings: the function's own code from .cache/venv (the zip path's handler, MODEL_DIR = the same prepared model) and sentence-transformers`);
            const ref = references(texts, path.join(image.context, "model"), fn.environment.MODEL_BACKEND, modelSource());
            const vsZip = Math.min(...got.map((g, i) => cosine(g, ref.zipCode[i])));
            const vsSt = Math.min(...got.map((g, i) => cosine(g, ref.sentenceTransformers[i])));
            result.parity = { vsZipCodeMin: vsZip, vsSentenceTransformersMin: vsSt, texts: texts.length };
            check(vsZip >= PARITY_FLOOR, `embeddings match the zip path's code (min cosine over ${texts.length} texts)`, vsZip.toFixed(7));
            check(vsSt >= PARITY_FLOOR, "embeddings match sentence-transformers (min cosine)", vsSt.toFixed(7));
        }
    } finally {
        await runner.stop();
    }

    // The command users run: `ml-lambda plan` records the image stack, `ml-lambda invoke --stack` builds its context
    // (from the build cache) and runs it through the same runner interface as a zip stack, printing the same figures.
    say(`ml-lambda plan --stack ${stack}, then ml-lambda invoke --stack ${stack} --json (the CLI as users run it)`);
    const cliEnv = { ...process.env, ML_LAMBDA_BASE_IMAGE: base };
    const tsNode = path.join(ROOT, "node_modules", ".bin", "ts-node");
    const planned2 = sh(tsNode, ["--transpile-only", "cli/main.ts", "plan", "--stack", stack, "--project", projectDir], { env: cliEnv });
    check(planned2.code === 0, "ml-lambda plan records the image stack", `exit ${planned2.code}`);
    const eventFile = path.join(projectDir, "event.json");
    fs.writeFileSync(eventFile, JSON.stringify(COLD_EVENT));
    const invoked = spawnSync(tsNode, ["--transpile-only", "cli/main.ts", "invoke", "--stack", stack, "--project", projectDir, "--event", eventFile, "--json"],
        { cwd: ROOT, env: cliEnv, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
    cleanup.push(localImageName(image.imageName).name);
    let answer: any;
    try {
        answer = JSON.parse(JSON.parse(invoked.stdout).body);
    } catch {
        answer = undefined;
    }
    const figures = (invoked.stderr ?? "").split("\n").find((l) => l.startsWith("measured by ml-lambda:")) ?? "";
    for (const l of (invoked.stderr ?? "").split("\n").filter((x) => /^(FAITHFUL RUN|  image:|measured by|REPORT)/.test(x))) say(`  invoke | ${l}`);
    check(invoked.status === 0 && answer?.count === COLD_EVENT.texts.length && answer?.dimension === 384,
        "ml-lambda invoke --stack runs the image stack and answers", `exit ${invoked.status}, ${answer?.count} x ${answer?.dimension}${invoked.status ? `: ${(invoked.stderr ?? "").split("\n").slice(-8).join(" | ")}` : ""}`);
    check(/time to first response \d+ ms/.test(figures) && /max memory \d+ MB/.test(figures) && /\/tmp used /.test(figures),
        "it prints the zip path's figures for the image (first response, peak RSS, /tmp)", figures.replace("measured by ml-lambda: ", ""));

    // Push as docker.Image pushes, then read the manifest back from the registry.
    say(`pushing ${localName} to the local registry`);
    const pushed = await engine.push(localName, {}, (l) => { if (/digest|Pushed|Mounted/.test(l)) say(`  push | ${l}`); });
    const [repoName, digest] = pushed.repoDigest.split("@");
    const accept = [...SINGLE_MANIFEST, ...INDEX_TYPES].join(", ");
    const manifest = await httpGet(`http://${registry}/v2/${repoPath}/manifests/${tag}`, { Accept: accept });
    const mediaType = String(manifest.headers["content-type"] ?? "");
    const bodyDigest = `sha256:${crypto.createHash("sha256").update(manifest.body).digest("hex")}`;
    result.push = { repoDigest: pushed.repoDigest, manifestDigest: bodyDigest, mediaType, seconds: pushed.seconds };
    check(repoName === `${registry}/${repoPath}` && digest === bodyDigest && manifest.headers["docker-content-digest"] === bodyDigest,
        "the function's imageUri (docker.Image repoDigest) is the pushed manifest's digest", `${pushed.repoDigest} vs registry ${bodyDigest}`);
    const m = JSON.parse(manifest.body.toString("utf8"));
    check(SINGLE_MANIFEST.includes(mediaType) && Array.isArray(m.layers) && m.layers.length === inspect.RootFS.Layers.length,
        "the pushed manifest is a single-platform image manifest (not an index)", `${mediaType}, ${m.layers?.length} layers`);
    check(digest === pushed.pushedDigest, "the digest the push reported is the one inspect reports", pushed.pushedDigest);
    return result;
}

/** The source model (before any ONNX export) the plan resolved from the hub cache; "" = the test venv's copy of it. */
function modelSource(): string {
    const hub = process.env.HF_HUB_CACHE ?? path.join(os.homedir(), ".cache", "huggingface", "hub");
    const snap = path.join(hub, "models--sentence-transformers--all-MiniLM-L6-v2", "snapshots");
    const revs = fs.existsSync(snap) ? fs.readdirSync(snap) : [];
    return revs.length ? path.join(snap, revs[0]) : "";
}

function dirBytes(dir: string): number {
    let n = 0;
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        n += e.isDirectory() ? dirBytes(p) : fs.statSync(p).size;
    }
    return n;
}

/** Bad input: a failing step is named with its output; an image whose emulator never answers shows its logs. */
async function badInput(engine: DockerEngine, context: string, network: string | undefined, base: string, cleanup: string[]): Promise<void> {
    say("---- bad input");
    const broken = fs.mkdtempSync(path.join(os.tmpdir(), "ml-lambda-broken-context-"));
    try {
        fs.cpSync(context, broken, { recursive: true });
        fs.chmodSync(path.join(broken, "requirements.txt"), 0o644);
        fs.writeFileSync(path.join(broken, "requirements.txt"), "ml-lambda-no-such-package==0.0.1\n");
        const tag = `ml-lambda-test/broken:${crypto.randomBytes(4).toString("hex")}`;
        cleanup.push(tag);
        try {
            await engine.buildImage({ context: broken, tag, buildArgs: { BASE_IMAGE: base }, builder: "2", network, log: () => undefined });
            check(false, "a Dockerfile step that fails fails the build");
        } catch (e) {
            const err = e as DockerError;
            const details = (err.details ?? []).join("\n");
            say(`  the build said: ${err.message.slice(0, 200)}`);
            for (const l of (err.details ?? []).slice(-4)) say(`    | ${l}`);
            check(/install_deps\.py/.test(err.message) && /ml-lambda-no-such-package/.test(details),
                "a failing step is named, with its output", "step and pip's message shown");
        }
    } finally {
        fs.rmSync(broken, { recursive: true, force: true });
    }
    // An image whose emulator dies before it answers (here: replaced by a script that fails, as a broken base would).
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ml-lambda-mute-image-"));
    const tag = `ml-lambda-test/mute:${crypto.randomBytes(4).toString("hex")}`;
    cleanup.push(tag);
    try {
        fs.writeFileSync(path.join(dir, "aws-lambda-rie"), "#!/bin/sh\necho 'emulator broken on purpose: cannot bind' >&2\nexit 3\n", { mode: 0o755 });
        fs.writeFileSync(path.join(dir, "Dockerfile"), `FROM ${base}\nCOPY aws-lambda-rie /usr/local/bin/aws-lambda-rie\n`);
        await engine.buildImage({ context: dir, tag, builder: "2", network, log: () => undefined });
        const runner = new ImageRunner({
            name: "mute", packageType: "Image", runtime: "", handler: "app.handler.lambda_handler", architecture: "x86_64", memoryMb: 512, timeoutS: 10,
            ephemeralStorageMb: 512, region: "us-east-1", environment: {}, layers: [], s3Objects: [],
        }, { image: tag, engine, startTimeoutMs: 10_000 });
        try {
            await runner.start();
            check(false, "an image that does not answer is reported");
        } catch (e) {
            const err = e as DockerError;
            say(`  the runner said: ${err.message}`);
            for (const l of (err.details ?? []).slice(-3)) say(`    | ${l}`);
            check((err.details ?? []).some((l) => l.includes("emulator broken on purpose")), "an image that does not answer is reported with its logs");
        } finally {
            await runner.stop();
        }
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

async function main(): Promise<number> {
    // 1. engine
    const local = startLocalEngine();
    if (!local) {
        console.log(`test:image: SKIPPED, no Docker engine could be had (scripts/docker-engine.sh start failed: see its error above)`);
        return 0;
    }
    const engine = new DockerEngine();
    const cleanup: string[] = [];
    let registryPid = "";
    const registryDir = fs.mkdtempSync(path.join(ROOT, ".cache", "registry-run-"));
    const results: ProfileResult[] = [];
    // Timings depend on what else the machine runs: the load average goes with them.
    const summary: Record<string, unknown> = { date: new Date().toISOString(), host: { cpus: os.cpus().length, memoryGb: Math.round(os.totalmem() / 1e9), loadAverageAtStart: os.loadavg() } };
    try {
        const v = await engine.version();
        const info = await engine.info();
        summary.engine = { version: v.Version, api: v.ApiVersion, driver: info.Driver, startedHere: !!local.startedPid };
        say(`Docker engine ${v.Version} (API ${v.ApiVersion}), storage driver ${info.Driver}, at ${process.env.DOCKER_HOST}${local.startedPid ? " (started here)" : ""}`);

        // 2. base stand-ins, built on demand per Python minor version
        const standins = new Map<string, string>();
        const standin = (minor: string): string => {
            if (!standins.has(minor)) {
                const t = Date.now();
                say(`base image: local stand-in for public.ecr.aws/lambda/python:${minor} (scripts/lambda-base-standin.sh)`);
                standins.set(minor, standinBaseImage(minor));
                summary.baseStandin = { tag: standins.get(minor), seconds: (Date.now() - t) / 1000 };
            }
            return standins.get(minor)!;
        };

        // 6. registry
        const reg = sh("bash", ["scripts/registry.sh", "start", registryDir]);
        if (reg.code !== 0) throw new Error("the local registry did not start (see above)");
        const regEnv = assignments(reg.stdout);
        registryPid = regEnv.REGISTRY_PID;

        // ML_LAMBDA_IMAGE_PROFILES=torch (or "onnx,torch") picks profiles explicitly.
        const profiles = process.env.ML_LAMBDA_IMAGE_PROFILES?.split(",").map((x) => x.trim()).filter(Boolean) ?? (SLOW ? ["onnx", "torch"] : ["onnx"]);
        for (const profile of profiles) {
            try {
                const r = await runProfile(engine, profile, standin, regEnv.REGISTRY_ADDR, cleanup);
                if (r) results.push(r);
            } catch (e) {
                const err = e as DockerError;
                failures.push(`${profile}: ${err.message}`);
                say(`FAIL profile ${profile}: ${err.message}`);
                for (const l of (err.details ?? []).slice(-40)) say(`    | ${l}`);
            }
            if (!KEEP) for (const name of cleanup.splice(0)) await engine.removeImage(name).catch(() => false);
        }
        if (!profiles.includes("torch")) say("torch profile not run (several GB; ML_LAMBDA_SLOW=1 runs it)");

        // 7. bad input, on the context of a profile this run built (its Dockerfile takes BASE_IMAGE)
        const onnxCtx = results.find((r) => r.profile === "onnx")?.context ?? results[0]?.context;
        const network = await engine.buildNetwork();
        if (onnxCtx) await badInput(engine, onnxCtx, network, standin("3.12"), cleanup);
    } catch (e) {
        const err = e as DockerError;
        failures.push(err.message);
        say(`FAIL ${err.message}`);
        for (const l of (err.details ?? []).slice(-40)) say(`    | ${l}`);
    } finally {
        if (!KEEP) {
            for (const name of cleanup) await engine.removeImage(name).catch(() => false);
            const freed = await engine.pruneBuildCache().catch(() => 0);
            await engine.request("POST", `/v${(await engine.version()).ApiVersion}/images/prune?filters=${encodeURIComponent(JSON.stringify({ dangling: ["true"] }))}`).catch(() => undefined);
            say(`removed the images this run built and ${mb(freed)} of build cache (ML_LAMBDA_KEEP_IMAGES=1 keeps them)`);
        } else say(`kept the images this run built: ${cleanup.join(", ")}`);
        if (registryPid) sh("bash", ["scripts/registry.sh", "stop", registryPid]);
        fs.rmSync(registryDir, { recursive: true, force: true });
        local.stop();
    }
    summary.profiles = results;
    (summary.host as Record<string, unknown>).loadAverageAtEnd = os.loadavg();
    summary.failures = failures;
    const out = path.join(process.env.ML_LAMBDA_CACHE_DIR ?? path.join(ROOT, ".cache", "ml-lambda"), "test-image", "last-run.json");
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, JSON.stringify(summary, null, 2));
    say(`figures written to ${path.relative(ROOT, out)}`);
    const checks = failures.length;
    console.log(`${checks === 0 ? "test:image passed" : `test:image FAILED (${checks})`}: ${results.length} profile(s) built, run and pushed in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    for (const f of failures) console.log(`  - ${f}`);
    return checks === 0 ? 0 : 1;
}

main().then((code) => process.exit(code), (e) => {
    console.error(e);
    process.exit(1);
});
