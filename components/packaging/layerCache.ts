/**
 * The layer cache: `<cacheDir>/layers/<key>/{layer/python, layer.zip, build.json}`, keyed by a hash of every input
 * of a build (layerKey). An entry is built in `layers/.tmp-*`, its build.json written last, and the directory
 * renamed into place; an entry without a readable build.json, or whose zip is not the size it recorded, is never
 * trusted. A cache hit runs no installer at all (nor needs one).
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { Architecture, RUNTIMES, Runtime } from "../limits";
import { pidAlive } from "../venv";
import { Installer, PIP, platformTags } from "./installers";
import type { LayerBuild } from "./layer";
import { SLIM_RULES } from "./slim";

/** Bump when the build's output for the same inputs changes (layout, zip format, measurement). Part of the key. */
export const BUILDER_VERSION = 4;

/** Index settings from the environment change what the installer resolves, so they are part of the key. */
const INDEX_ENV = [
    "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX", "PIP_CONSTRAINT", "PIP_PRE",
    "UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_INDEX", "UV_DEFAULT_INDEX", "UV_FIND_LINKS", "UV_CONSTRAINT", "UV_PRERELEASE",
];

export function layerKey(o: { requirementsText: string; constraints: Record<string, string>; runtime: Runtime; architecture: Architecture; slim: boolean; installer?: Installer; omit?: string[]; direct?: string[] }): string {
    const input = {
        builder: BUILDER_VERSION,
        requirements: o.requirementsText,
        constraints: Object.entries(o.constraints).sort(([a], [b]) => (a < b ? -1 : 1)),
        python: RUNTIMES[o.runtime].python,
        implementation: "cp",
        architecture: o.architecture,
        platforms: platformTags(o.runtime, o.architecture),
        slim: o.slim ? SLIM_RULES.map((r) => r.id) : [],
        tool: (o.installer ?? PIP).pin,
        env: INDEX_ENV.map((k) => [k, process.env[k] ?? null]),
        // Only present when the file has omit lines, so the keys of every other file stay as they were.
        ...(o.omit && o.omit.length ? { omit: o.omit } : {}),
        ...(o.direct ? { direct: o.direct } : {}),
    };
    return crypto.createHash("sha256").update(JSON.stringify(input)).digest("hex");
}

/** build.json: the LayerBuild minus what depends on where the entry lives (zipPath is relative to the entry). */
type CacheManifest = Omit<LayerBuild, "dir" | "cacheHit"> & { format: 1 };

/** The entry for `key` under `layersDir`, when it is complete; never runs anything. */
export function readEntry(layersDir: string, key: string): LayerBuild | undefined {
    const entry = path.join(layersDir, key);
    let m: CacheManifest & { pipErrors?: string[]; pipVersion?: string };
    try {
        m = JSON.parse(fs.readFileSync(path.join(entry, "build.json"), "utf8"));
    } catch {
        return undefined;
    }
    if (m.format !== 1 || m.key !== key) return undefined;
    const dir = path.join(entry, "layer");
    const zipPath = m.zipPath ? path.join(entry, m.zipPath) : "";
    if (!fs.existsSync(path.join(dir, "python"))) return undefined;
    if (zipPath && (!fs.existsSync(zipPath) || fs.statSync(zipPath).size !== m.zipBytes)) return undefined;
    // Entries written before the installers were strategies name the installer's errors pipErrors.
    const { format: _format, pipErrors, pipVersion: _pipVersion, ...build } = m;
    return { ...build, installerErrors: build.installerErrors ?? pipErrors ?? [], key, dir, zipPath, cacheHit: true };
}

/** A fresh temporary directory to build the entry for `key` in (removeStaleTemps knows its name's shape). */
export function tempEntry(layersDir: string, key: string): string {
    fs.mkdirSync(layersDir, { recursive: true });
    removeStaleTemps(layersDir);
    const tmp = path.join(layersDir, `.tmp-${key.slice(0, 16)}-${process.pid}-${Date.now()}`);
    fs.mkdirSync(tmp, { recursive: true });
    return tmp;
}

/**
 * Writes build.json into the built `tmp` (last), then renames it into place. When a concurrent build of the same
 * key finished first, its entry is kept (`raced`). Returns the entry as read back.
 */
export function commitEntry(layersDir: string, tmp: string, build: Omit<LayerBuild, "dir" | "cacheHit">): { entry: LayerBuild; raced: boolean } {
    const manifest: CacheManifest = { format: 1, ...build };
    fs.writeFileSync(path.join(tmp, "build.json"), JSON.stringify(manifest, null, 1));
    const entry = path.join(layersDir, build.key);
    const raced = readEntry(layersDir, build.key);
    if (raced) return { entry: raced, raced: true };
    fs.rmSync(entry, { recursive: true, force: true }); // a damaged entry without a valid build.json
    try {
        fs.renameSync(tmp, entry);
    } catch (e) {
        const other = readEntry(layersDir, build.key); // a concurrent build of the same key won the race
        if (!other) throw e;
        return { entry: other, raced: true };
    }
    const done = readEntry(layersDir, build.key);
    if (!done) throw new Error(`ml-lambda: the layer cache entry ${entry} could not be read back`);
    return { entry: done, raced: false };
}

/** Removes temporary build directories whose process is gone (an interrupted build). */
function removeStaleTemps(layersDir: string): void {
    for (const name of fs.readdirSync(layersDir)) {
        const m = /^\.tmp-[0-9a-f]+-(\d+)-\d+$/.exec(name);
        if (m && !pidAlive(Number(m[1]))) fs.rmSync(path.join(layersDir, name), { recursive: true, force: true });
    }
}
