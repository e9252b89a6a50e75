import { spawnSync } from "child_process";
import { MlLambdaError } from "./errors";

/** The host Python used for build steps (pip, model archives). ML_LAMBDA_PYTHON overrides `python3`. */
export function hostPython(): string {
    return process.env.ML_LAMBDA_PYTHON || "python3";
}

/**
 * Runs a build-step script synchronously: the component must know its artifacts before it registers resources.
 * stderr is passed through live (progress); stdout is the script's JSON answer.
 */
export function runPythonJson<T>(script: string, args: string[], what: string, env: NodeJS.ProcessEnv = {}): T {
    const python = hostPython();
    const res = spawnSync(python, [script, ...args], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "inherit"],
        env: { ...process.env, ...env },
        maxBuffer: 64 * 1024 * 1024,
    });
    if (res.error) {
        throw new MlLambdaError("ML_LAMBDA_PYTHON", python, `${what} needs a Python 3 interpreter (${res.error.message})`,
            "install python3, or set ML_LAMBDA_PYTHON to a Python 3 executable");
    }
    if (res.status !== 0) {
        // The script printed its own diagnosis on stderr (already shown); stdout may carry a structured error.
        const detail = lastJsonLine(res.stdout) as { error?: string; setting?: string; value?: unknown; limit?: string; fix?: string } | undefined;
        if (detail?.error && detail.setting) {
            throw new MlLambdaError(detail.setting, detail.value, detail.limit ?? detail.error, detail.fix ?? "see the message above");
        }
        throw new Error(`${what} failed (exit ${res.status}): ${detail?.error ?? "see the output above"}`);
    }
    const out = lastJsonLine(res.stdout);
    if (out === undefined) throw new Error(`${what} printed no result`);
    return out as T;
}

function lastJsonLine(stdout: string | null): unknown {
    const lines = (stdout ?? "").trim().split("\n").filter((l) => l.trim().startsWith("{"));
    if (lines.length === 0) return undefined;
    try {
        return JSON.parse(lines[lines.length - 1]);
    } catch {
        return undefined;
    }
}
