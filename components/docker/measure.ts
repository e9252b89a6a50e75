/**
 * Builds the staged image context once through the Docker Engine API and measures the result, synchronously, so
 * the plan (which is synchronous: the graph's shape depends on it) can report the image's real size and refuse an
 * image over Lambda's limit before anything is pushed. docker.Image builds the same context again at deploy
 * time from BuildKit's cache (seconds).
 *
 * The Engine API client is asynchronous, so the build runs in a child Node process (this file, as a script) and
 * the parent waits for its JSON answer; build progress goes to stderr as it happens.
 */
import { spawnSync } from "child_process";
import * as path from "path";
import { MlLambdaError } from "../errors";
import type { ImageMeasurement } from "../packaging/imageSize";
import { dockerSocket, DockerEngine, DockerError } from "./engine";

export interface MeasureRequest {
    context: string;
    /** Relative to the context. */
    dockerfile: string;
    tag: string;
    buildArgs: Record<string, string>;
    platform: string;
}

function childArgs(): string[] {
    // From source (ts-node) the child needs the same TypeScript hook; from dist it is plain JavaScript.
    return __filename.endsWith(".ts") ? ["-r", "ts-node/register/transpile-only", __filename] : [__filename];
}

/** True when a Docker engine answers on DOCKER_HOST (or the default socket) within a few seconds. */
export function engineAnswersSync(env: NodeJS.ProcessEnv = process.env): { ok: boolean; socket: string; why?: string } {
    let socket: string;
    try {
        socket = dockerSocket(env);
    } catch (e) {
        return { ok: false, socket: String(env.DOCKER_HOST), why: (e as Error).message };
    }
    const r = spawnSync(process.execPath, [...childArgs(), "--ping"], { env, encoding: "utf8", timeout: 15_000 });
    const answer = (r.stdout ?? "").trim().split("\n").pop() ?? "";
    if (r.status === 0 && answer.startsWith("{")) return { ok: true, socket };
    let why = answer || r.stderr?.trim() || `exit ${r.status}`;
    try {
        why = JSON.parse(answer).error ?? why;
    } catch {
        // not JSON: keep the raw text
    }
    return { ok: false, socket, why };
}

/** Builds and measures; a failing build throws with the failing step and its output in the message. */
export function measureImageSync(req: MeasureRequest, env: NodeJS.ProcessEnv = process.env): ImageMeasurement {
    const r = spawnSync(process.execPath, [...childArgs(), "--measure", JSON.stringify(req)], {
        env, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], maxBuffer: 16 * 1024 * 1024,
    });
    const last = (r.stdout ?? "").trim().split("\n").pop() ?? "";
    let answer: any;
    try {
        answer = JSON.parse(last);
    } catch {
        throw new Error(`image measurement: no answer from the build (exit ${r.status}${r.signal ? `, ${r.signal}` : ""})`);
    }
    if (answer.error) {
        throw new MlLambdaError("dockerfile", path.join(req.context, req.dockerfile),
            `the image build failed: ${answer.error}${answer.details?.length ? `\n${answer.details.map((l: string) => `    | ${l}`).join("\n")}` : ""}`,
            "fix the step named above (its output is shown), then deploy again");
    }
    return answer as ImageMeasurement;
}

async function child(argv: string[]): Promise<void> {
    const engine = new DockerEngine();
    if (argv[0] === "--ping") {
        try {
            const v = await engine.version();
            process.stdout.write(`${JSON.stringify({ version: v.Version, api: v.ApiVersion })}\n`);
        } catch (e) {
            process.stdout.write(`${JSON.stringify({ error: (e as Error).message })}\n`);
            process.exitCode = 1;
        }
        return;
    }
    const req = JSON.parse(argv[1]) as MeasureRequest;
    try {
        const v = await engine.version();
        const network = await engine.buildNetwork();
        const built = await engine.buildImage({ ...req, builder: "2", network, log: (l) => process.stderr.write(`[ml-lambda image] ${l}\n`) });
        const inspect = (await engine.inspectImage(built.id))!;
        const history = await engine.history(built.id);
        const layers = history.filter((h) => h.Size > 0).reverse().map((h) => ({
            createdBy: h.CreatedBy.replace(/^\/bin\/sh -c (#\(nop\) )?/, "").replace(/^RUN \|\d+ \S+ \/bin\/sh -c /, "RUN ").replace(/\s+/g, " ").trim() || "(base image)",
            bytes: h.Size,
        }));
        const m: ImageMeasurement = { uncompressedBytes: inspect.Size, layers, layerCount: inspect.RootFS.Layers.length, imageId: built.id, measuredWith: `Docker ${v.Version}, BuildKit`, network };
        process.stdout.write(`${JSON.stringify(m)}\n`);
    } catch (e) {
        const err = e as DockerError;
        process.stdout.write(`${JSON.stringify({ error: err.message, details: err.details ?? [] })}\n`);
        process.exitCode = 1;
    }
}

if (require.main === module) {
    child(process.argv.slice(2)).catch((e) => {
        process.stdout.write(`${JSON.stringify({ error: (e as Error).message })}\n`);
        process.exitCode = 1;
    });
}
