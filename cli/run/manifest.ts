/**
 * The deployment manifest: what the offline plan built for a stack, read from the mock engine's graph, so that
 * `ml-lambda invoke --stack X` runs exactly those artifacts. Written by `ml-lambda plan` to
 * `<project>/.ml-lambda/deployments/<stack>.json` (git-ignored with the build cache).
 *
 * Per aws:lambda/function:Function: package type, runtime, handler, architecture, memory, timeout, /tmp size, the
 * environment variables as the graph resolved them, the logging config, the code zip (path + sha256; a copy kept by
 * content under <cache>/deployments/code, since the component's own path is rewritten by every plan), every layer
 * (our built zip, or an external ARN marked not runnable), the S3 objects it reads (the model archive: file,
 * bucket, key), and on the image path the image's build inputs (context, Dockerfile, build args).
 * The stack files are hashed too: a changed Pulumi.<stack>.yaml, or an artifact missing or changed since, makes the
 * manifest stale, and invoke says to plan again.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { MLLAMBDA_TYPE } from "../../components/identity";
import { sourceDigest } from "../../components/packaging/tree";
import type { BuildSource } from "../../components/packaging/tree";
import { resourceKey } from "../offline";
import type { OfflineRun, RecordedResource } from "../offline";
import { fileSha256 } from "./tools";
import type { DeployedFunction } from "./types";
import { RunError } from "./types";

// 2: functions record the sources their build read (the handler directory, the requirements), to tell staleness.
export const MANIFEST_FORMAT = 2;

export interface ManifestArtifact {
    path: string;
    /** hex sha256 of the file. */
    sha256: string;
    bytes: number;
}

export type ManifestLayer =
    | ({ kind: "built"; arn: string; resource: string } & ManifestArtifact)
    | { kind: "external"; arn: string; runnable: false; note: string };

export interface ManifestFunction {
    /** The Pulumi resource name (e.g. "embeddings"). */
    resource: string;
    /** The Lambda function name. */
    name: string;
    packageType: "Zip" | "Image";
    runtime?: string;
    handler?: string;
    architecture: "x86_64" | "arm64";
    memoryMb: number;
    timeoutS: number;
    ephemeralStorageMb: number;
    snapStart: boolean;
    environment: Record<string, string>;
    logging?: { format?: string; applicationLogLevel?: string; systemLogLevel?: string; logGroup?: string };
    code?: ManifestArtifact & { via: "direct" | "s3"; s3?: { bucket: string; key: string } };
    layers: ManifestLayer[];
    s3Objects: Array<ManifestArtifact & { bucket: string; key: string; role: "model" }>;
    image?: { context: string; dockerfile: string; buildArgs: Record<string, string>; platform?: string; imageName?: string; resource: string };
    /** What the component's build read, with digests (its `buildSources`), absolute: a change makes the build stale. */
    sources: BuildSource[];
}

export interface DeploymentManifest {
    format: typeof MANIFEST_FORMAT;
    project: string;
    stack: string;
    plannedAt: string;
    projectDir: string;
    /** The build cache the plan used (where the artifacts live); invoke uses it too unless ML_LAMBDA_CACHE_DIR says otherwise. */
    cacheDir: string;
    region: string;
    /** sha256 (hex) of the stack files at plan time, by path relative to the project. */
    stackFiles: Record<string, string>;
    functions: ManifestFunction[];
}

export function manifestPath(projectDir: string, stack: string): string {
    return path.join(projectDir, ".ml-lambda", "deployments", `${stack}.json`);
}

/** How to make (or refresh) the manifest, in the words that fit the project. */
export function planCommand(projectDir: string, stack: string): string {
    try {
        const pkg = JSON.parse(fs.readFileSync(path.join(projectDir, "package.json"), "utf8"));
        if (pkg?.scripts?.plan) return `npm run plan -- --stack ${stack}`;
    } catch {
        // no package.json: an npm install's project without a plan script
    }
    return `npx ml-lambda plan --stack ${stack}`;
}

interface AssetLike { __pulumiAsset?: boolean; __pulumiArchive?: boolean; path?: unknown }

/** The file behind a FileAsset / FileArchive input (its `path` is a promise under the mock engine). */
async function assetPath(v: unknown): Promise<string | undefined> {
    if (!v || typeof v !== "object") return undefined;
    const a = v as AssetLike;
    if (!a.__pulumiAsset && !a.__pulumiArchive) return undefined;
    const p = await Promise.resolve(a.path);
    return typeof p === "string" ? p : undefined;
}

function sha256File(file: string): string {
    return crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

const b64ToHex = (b64: string) => Buffer.from(b64, "base64").toString("hex");

function artifact(file: string, cacheDir: string, expectedHex?: string, what = file): ManifestArtifact {
    if (!fs.existsSync(file)) throw new RunError(`the plan's ${what} (${file}) does not exist`, 1);
    const sha256 = fileSha256(file, cacheDir);
    if (expectedHex && expectedHex !== sha256) {
        throw new RunError(`the plan's ${what} (${file}) has sha256 ${sha256}, but the graph records ${expectedHex}: the file changed during the plan`, 1);
    }
    return { path: path.resolve(file), sha256, bytes: fs.statSync(file).size };
}

/**
 * The component writes the code zip to <cache>/code/<function name>.zip, which the next plan of any project sharing
 * the cache overwrites; the layer zips and model archives are already stored by content. The manifest keeps its own
 * copy of the code zip by sha256, so a later plan elsewhere does not make this stack's recorded build stale.
 */
function keepByContent(a: ManifestArtifact, cacheDir: string): ManifestArtifact {
    const kept = path.join(cacheDir, "deployments", "code", `${a.sha256}.zip`);
    if (path.resolve(a.path) === kept) return a;
    if (!fs.existsSync(kept) || fs.statSync(kept).size !== a.bytes) {
        fs.mkdirSync(path.dirname(kept), { recursive: true });
        const tmp = `${kept}.${process.pid}.tmp`;
        fs.copyFileSync(a.path, tmp);
        fs.renameSync(tmp, kept);
    }
    return { ...a, path: kept };
}

function hashStackFiles(projectDir: string, stack: string): Record<string, string> {
    const out: Record<string, string> = {};
    // The program's entry too: an argument changed in code changes the build as a stack setting does.
    for (const f of ["Pulumi.yaml", `Pulumi.${stack}.yaml`, "index.ts", "index.js"]) {
        const p = path.join(projectDir, f);
        if (fs.existsSync(p)) out[f] = sha256File(p);
    }
    return out;
}

/** The manifest of one offline run (preview mode): pure reading of the recorded graph, plus file hashes. */
export async function buildManifest(run: OfflineRun, o: { projectDir: string; cacheDir: string; now?: Date }): Promise<DeploymentManifest> {
    const region = String(run.stack.config["aws:region"] ?? "us-east-1");
    const objects = run.resources.filter((r) => r.type === "aws:s3/bucketObjectv2:BucketObjectv2");
    const objectFile = async (bucket: string, key: string): Promise<string | undefined> => {
        const obj = objects.find((r) => r.inputs.bucket === bucket && r.inputs.key === key);
        return obj ? assetPath(obj.inputs.source) : undefined;
    };
    const layersByArn = new Map<string, RecordedResource>();
    for (const r of run.resources) if (r.type === "aws:lambda/layerVersion:LayerVersion" && typeof r.outputs.arn === "string") layersByArn.set(r.outputs.arn, r);
    const functions: ManifestFunction[] = [];
    for (const r of run.resources.filter((x) => x.type === "aws:lambda/function:Function")) {
        const i = r.inputs;
        const environment: Record<string, string> = {};
        for (const [k, v] of Object.entries<unknown>(i.environment?.variables ?? {})) environment[k] = String(v);
        const fn: ManifestFunction = {
            resource: r.name,
            name: String(i.name ?? r.outputs.name ?? r.name),
            packageType: i.packageType === "Image" ? "Image" : "Zip",
            runtime: i.runtime,
            handler: i.handler,
            architecture: (i.architectures?.[0] ?? "x86_64") as "x86_64" | "arm64",
            memoryMb: Number(i.memorySize ?? 128),
            timeoutS: Number(i.timeout ?? 3),
            ephemeralStorageMb: Number(i.ephemeralStorage?.size ?? 512),
            snapStart: i.snapStart?.applyOn === "PublishedVersions",
            environment,
            logging: i.loggingConfig ? {
                format: i.loggingConfig.logFormat, applicationLogLevel: i.loggingConfig.applicationLogLevel,
                systemLogLevel: i.loggingConfig.systemLogLevel, logGroup: i.loggingConfig.logGroup,
            } : undefined,
            layers: [],
            s3Objects: [],
            // The component records them relative to the program's directory, which is this process's (the offline run).
            sources: ((run.resources.find((x) => x.type === MLLAMBDA_TYPE && resourceKey(x.type, x.name) === r.parent)?.inputs.buildSources ?? []) as BuildSource[])
                .map((s) => ({ ...s, path: path.resolve(s.path) })),
        };
        if (fn.packageType === "Zip") {
            const expected = typeof i.sourceCodeHash === "string" ? b64ToHex(i.sourceCodeHash) : undefined;
            const direct = await assetPath(i.code);
            if (direct) fn.code = { ...keepByContent(artifact(direct, o.cacheDir, expected, `code zip of ${fn.name}`), o.cacheDir), via: "direct" };
            else if (i.s3Bucket && i.s3Key) {
                const file = await objectFile(i.s3Bucket, i.s3Key);
                if (!file) throw new RunError(`function ${fn.name}: its code is s3://${i.s3Bucket}/${i.s3Key}, which no BucketObjectv2 of the plan uploads`, 1);
                fn.code = { ...keepByContent(artifact(file, o.cacheDir, expected, `code zip of ${fn.name}`), o.cacheDir), via: "s3", s3: { bucket: i.s3Bucket, key: i.s3Key } };
            }
            for (const arn of (i.layers ?? []) as string[]) {
                const layer = layersByArn.get(arn);
                if (!layer) {
                    fn.layers.push({ kind: "external", arn, runnable: false, note: "an existing layer version the plan did not build: its content is not on this machine" });
                    continue;
                }
                const file = (await assetPath(layer.inputs.code)) ??
                    (layer.inputs.s3Bucket && layer.inputs.s3Key ? await objectFile(layer.inputs.s3Bucket, layer.inputs.s3Key) : undefined);
                if (!file) throw new RunError(`layer ${layer.name}: the plan records no zip for it`, 1);
                const expected = typeof layer.inputs.sourceCodeHash === "string" ? b64ToHex(layer.inputs.sourceCodeHash) : undefined;
                fn.layers.push({ kind: "built", arn, resource: layer.name, ...artifact(file, o.cacheDir, expected, `layer zip ${layer.name}`) });
            }
            const bucket = environment.MODEL_BUCKET;
            const key = environment.MODEL_KEY;
            if (bucket && key) {
                const file = await objectFile(bucket, key);
                if (!file) throw new RunError(`function ${fn.name}: MODEL_BUCKET/MODEL_KEY name s3://${bucket}/${key}, which no BucketObjectv2 of the plan uploads`, 1);
                fn.s3Objects.push({ bucket, key, role: "model", ...artifact(file, o.cacheDir, environment.MODEL_SHA256?.toLowerCase(), `model archive s3://${bucket}/${key}`) });
            }
        } else {
            const image = run.resources.find((x) => x.type === "docker:index/image:Image" && (x.parent === undefined || x.parent === r.parent));
            const b = image?.inputs.build ?? {};
            if (image) {
                const buildArgs: Record<string, string> = {};
                for (const [k, v] of Object.entries<unknown>(b.args ?? {})) buildArgs[k] = String(v);
                fn.image = { resource: image.name, context: String(b.context ?? ""), dockerfile: String(b.dockerfile ?? ""), buildArgs, platform: b.platform, imageName: image.inputs.imageName };
            }
        }
        functions.push(fn);
    }
    return {
        format: MANIFEST_FORMAT,
        project: run.stack.project,
        stack: run.stack.stack,
        plannedAt: (o.now ?? new Date()).toISOString(),
        projectDir: path.resolve(o.projectDir),
        cacheDir: path.resolve(o.cacheDir),
        region,
        stackFiles: hashStackFiles(o.projectDir, run.stack.stack),
        functions,
    };
}

export function writeManifest(m: DeploymentManifest, projectDir: string): string {
    const file = manifestPath(projectDir, m.stack);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(m, null, 2) + "\n");
    fs.renameSync(tmp, file);
    return file;
}

/** What `ml-lambda plan` calls: build and write the stack's manifest; returns its path. */
export async function recordDeployment(run: OfflineRun, projectDir: string, cacheDir: string): Promise<string> {
    return writeManifest(await buildManifest(run, { projectDir, cacheDir }), projectDir);
}

/**
 * The stack's manifest, checked: present, of this format, its stack files unchanged, every artifact present with
 * the recorded size and sha256. Anything else is an error that says to plan again.
 */
export function loadManifest(projectDir: string, stack: string, cacheDir?: string): DeploymentManifest {
    const file = manifestPath(projectDir, stack);
    const again = `run \`${planCommand(projectDir, stack)}\` first`;
    if (!fs.existsSync(file)) {
        const stackFile = path.join(projectDir, `Pulumi.${stack}.yaml`);
        const hint = fs.existsSync(stackFile) ? "" : ` (and there is no ${path.basename(stackFile)} in ${projectDir}: check --stack and --project)`;
        throw new RunError(`no build recorded for stack "${stack}" (${path.relative(process.cwd(), file) || file} is missing)${hint}: ${again}`);
    }
    let m: DeploymentManifest;
    try {
        m = JSON.parse(fs.readFileSync(file, "utf8"));
    } catch (e) {
        throw new RunError(`${file} is not valid JSON (${(e as Error).message}): ${again}`);
    }
    if (m.format !== MANIFEST_FORMAT) throw new RunError(`${file} was written by another version of ml-lambda (format ${m.format}): ${again}`);
    const now = hashStackFiles(projectDir, stack);
    for (const [f, sha] of Object.entries(m.stackFiles)) {
        if (now[f] !== sha) throw new RunError(`${f} changed since the plan of ${m.plannedAt}: the recorded build is stale; ${again}`);
    }
    const cache = cacheDir ?? m.cacheDir;
    for (const fn of m.functions) {
        // What the plan would build differently now: the handler's code, the requirements.
        for (const s of fn.sources) {
            if (sourceDigest(s.path, s.exclude) !== s.sha256) {
                const shown = path.relative(projectDir, s.path) || s.path;
                throw new RunError(`${s.what} (${shown.startsWith("..") ? s.path : shown}) changed since the plan of ${m.plannedAt}: the recorded build is stale; ${again}`);
            }
        }
        const arts: Array<[string, ManifestArtifact]> = [];
        if (fn.code) arts.push([`the code zip of ${fn.name}`, fn.code]);
        for (const l of fn.layers) if (l.kind === "built") arts.push([`the layer zip ${l.resource}`, l]);
        for (const o of fn.s3Objects) arts.push([`the model archive s3://${o.bucket}/${o.key}`, o]);
        for (const [what, a] of arts) {
            if (!fs.existsSync(a.path)) throw new RunError(`${what} (${a.path}) is missing: the build cache was cleared or moved since the plan of ${m.plannedAt}; ${again}`);
            const st = fs.statSync(a.path);
            if (st.size !== a.bytes || fileSha256(a.path, cache) !== a.sha256) {
                throw new RunError(`${what} (${a.path}) changed since the plan of ${m.plannedAt} (another plan rebuilt it): ${again}`);
            }
        }
    }
    return m;
}

/** One function of the manifest as the runner's input; `name` picks one when the stack has several. */
export function deployedFunction(m: DeploymentManifest, name?: string): DeployedFunction {
    const fns = m.functions;
    if (fns.length === 0) throw new RunError(`stack "${m.stack}" has no Lambda function`);
    const fn = name ? fns.find((f) => f.name === name || f.resource === name) : fns.length === 1 ? fns[0] : undefined;
    if (!fn) {
        throw new RunError(name
            ? `stack "${m.stack}" has no function "${name}"; it has: ${fns.map((f) => f.name).join(", ")}`
            : `stack "${m.stack}" has ${fns.length} functions (${fns.map((f) => f.name).join(", ")}): pick one with --function NAME`);
    }
    const external = fn.layers.filter((l) => l.kind === "external");
    if (external.length > 0) {
        throw new RunError(`function ${fn.name} uses layer(s) the plan did not build (${external.map((l) => l.arn).join(", ")}): ` +
            `their content is not on this machine, so the faithful run cannot reproduce the function`);
    }
    return {
        name: fn.name,
        packageType: fn.packageType,
        runtime: fn.runtime ?? "",
        handler: fn.handler ?? "",
        architecture: fn.architecture,
        memoryMb: fn.memoryMb,
        timeoutS: fn.timeoutS,
        ephemeralStorageMb: fn.ephemeralStorageMb,
        region: m.region,
        environment: { ...fn.environment },
        logging: fn.logging,
        code: fn.code ? { zip: fn.code.path, sha256: fn.code.sha256 } : undefined,
        layers: fn.layers.map((l) => (l.kind === "built" ? { zip: l.path, sha256: l.sha256 } : { dir: "" })),
        s3Objects: fn.s3Objects.map((o) => ({ bucket: o.bucket, key: o.key, file: o.path, sha256: o.sha256 })),
        image: fn.image ? { context: fn.image.context, dockerfile: fn.image.dockerfile, buildArgs: fn.image.buildArgs, platform: fn.image.platform, imageName: fn.image.imageName } : undefined,
    };
}
