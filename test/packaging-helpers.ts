/** Shared helpers for the packaging tests (not a spec file: mocha does not run it on its own). */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { TEST_CACHE } from "./paths";

export const REPO = path.join(__dirname, "..");
export const FIXTURES = path.join(__dirname, "fixtures");

/**
 * Shared cache for real PyPI builds: reused across runs so the every-run tests stay quick once warm. The same
 * cache as the component and program tests (TEST_CACHE), so one requirement set is never built twice (the
 * torch-bearing sets weigh 5+ GB each).
 */
export function testCacheDir(): string {
    return process.env.ML_LAMBDA_TEST_CACHE ? path.resolve(process.env.ML_LAMBDA_TEST_CACHE) : TEST_CACHE;
}

const created: string[] = [];

/** A fresh temporary directory, removed when the test run ends (set ML_LAMBDA_KEEP_TMP=1 to keep them). */
export function tmpDir(prefix: string): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `mll-${prefix}-`));
    created.push(dir);
    return dir;
}

// A root-level hook: this module is loaded by the packaging spec files while mocha collects them.
if (typeof after === "function") {
    after(() => {
        if (process.env.ML_LAMBDA_KEEP_TMP === "1") return;
        for (const dir of created.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
    });
}

export function writeFile(root: string, rel: string, content: string | Buffer, mode?: number): string {
    const p = path.join(root, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, content);
    if (mode !== undefined) fs.chmodSync(p, mode);
    return p;
}

/** A fake installed distribution: package files plus a dist-info with METADATA and RECORD listing them. */
export function fakeDist(site: string, name: string, version: string, files: Record<string, string | Buffer>): void {
    const distInfo = `${name.replace(/-/g, "_")}-${version}.dist-info`;
    const record: string[] = [];
    for (const [rel, content] of Object.entries(files)) {
        writeFile(site, rel, content);
        record.push(`${rel},sha256=x,${Buffer.byteLength(content)}`);
    }
    writeFile(site, `${distInfo}/METADATA`, `Metadata-Version: 2.1\nName: ${name}\nVersion: ${version}\n\nA description with Name: decoy\n`);
    record.push(`${distInfo}/METADATA,,`, `${distInfo}/RECORD,,`, `../../bin/${name}-cli,,`);
    writeFile(site, `${distInfo}/RECORD`, record.join("\n") + "\n");
}

export function python(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
    return spawnSync(process.env.ML_LAMBDA_PYTHON || "python3", args, { encoding: "utf8", cwd: opts.cwd, env: opts.env ?? process.env, maxBuffer: 64 * 1024 * 1024 });
}
