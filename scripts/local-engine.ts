/**
 * The local Docker engine and base image the image test and the benchmark share: scripts/docker-engine.sh (an engine
 * that answers, or dockerd started here and stopped again) and scripts/lambda-base-standin.sh (the local stand-in
 * for public.ecr.aws/lambda/python, cached). Both scripts print KEY=VALUE lines on stdout and progress on stderr.
 */
import { spawnSync } from "child_process";
import * as path from "path";

const ROOT = path.resolve(__dirname, "..");

/** KEY=VALUE lines of a script's stdout. */
export function assignments(text: string): Record<string, string> {
    const out: Record<string, string> = {};
    for (const line of text.split("\n")) {
        const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
        if (m) out[m[1]] = m[2];
    }
    return out;
}

export interface LocalEngine {
    /** unix:// socket, also set in process.env.DOCKER_HOST. */
    dockerHost: string;
    /** dockerd's pid when it was started here (stop() stops it), else undefined. */
    startedPid?: string;
    stop(): void;
}

/** An engine to use, or undefined when none can be had (the script has said why on stderr). */
export function startLocalEngine(): LocalEngine | undefined {
    const r = spawnSync("bash", ["scripts/docker-engine.sh", "start"], { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
    if (r.status !== 0) return undefined;
    const env = assignments(r.stdout);
    process.env.DOCKER_HOST = env.DOCKER_HOST;
    const pid = env.ML_LAMBDA_DOCKERD_PID || undefined;
    return {
        dockerHost: env.DOCKER_HOST,
        startedPid: pid,
        stop: () => {
            if (pid) spawnSync("bash", ["scripts/docker-engine.sh", "stop", pid], { cwd: ROOT, stdio: "inherit" });
        },
    };
}

/** The stand-in base image's tag for a Python minor version ("3.12"), built when missing; throws when it cannot be. */
export function standinBaseImage(minor: string, env: NodeJS.ProcessEnv = process.env): string {
    const r = spawnSync("bash", ["scripts/lambda-base-standin.sh", minor], { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], env });
    if (r.status !== 0) throw new Error(`the base image stand-in for Python ${minor} could not be built (see above)`);
    return r.stdout.trim().split("\n").pop()!;
}
