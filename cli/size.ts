/**
 * `ml-lambda size`: what will this weigh on Lambda, and zip or image?
 *
 *   ml-lambda size --requirements FILE [--python 3.12] [--arch x86_64|arm64] [--installer pip|uv] [--headroom BYTES] [--no-slim] [--json]
 *   ml-lambda size --dir DIR | --zip FILE [--headroom BYTES] [--json]
 *
 * --requirements builds the dependency layer for the target (cached under ML_LAMBDA_CACHE_DIR or ./.ml-lambda);
 * --dir / --zip measure an existing tree or zip (the function code plus layers, as Lambda would count it).
 * Progress and pip's output go to stderr; stdout carries only the report (one JSON object with --json).
 * Exit 0 when measured (whatever the decision), 1 on a user mistake, 2 on bad usage.
 */
import { parseArgs } from "util";
import { MlLambdaError } from "../components/errors";
import { defaultCacheDir } from "../components/validate";
import { ARCHITECTURES, Architecture, DEFAULT_HEADROOM_BYTES, SUPPORTED_RUNTIMES, Runtime } from "../components/limits";
import {
    Decision,
    LayerBuild,
    Measurement,
    DependencyWeight,
    buildLayer,
    decide,
    dependencyWeights,
    formatBytes,
    formatSizeTable,
    measureDir,
    measureZip,
} from "../components/packaging";

export const USAGE =
    "ml-lambda size --requirements FILE [--python 3.12] [--arch x86_64|arm64] [--installer pip|uv] [--headroom BYTES] [--no-slim] [--json]\n" +
    "       ml-lambda size --dir DIR | --zip FILE [--headroom BYTES] [--json]";

export async function run(argv: string[]): Promise<number> {
    let values: Record<string, string | boolean | undefined>;
    try {
        values = parseArgs({
            args: argv,
            options: {
                requirements: { type: "string" },
                python: { type: "string", default: "3.12" },
                arch: { type: "string", default: "x86_64" },
                dir: { type: "string" },
                zip: { type: "string" },
                headroom: { type: "string" },
                "no-slim": { type: "boolean", default: false },
                json: { type: "boolean", default: false },
                top: { type: "string", default: "10" },
                installer: { type: "string" },
            },
            strict: true,
            allowPositionals: false,
        }).values;
    } catch (e) {
        console.error(`ml-lambda size: ${(e as Error).message}\nUsage: ${USAGE}`);
        return 2;
    }
    const sources = ["requirements", "dir", "zip"].filter((k) => values[k] !== undefined);
    if (sources.length !== 1) {
        console.error(`ml-lambda size: give exactly one of --requirements, --dir, --zip\nUsage: ${USAGE}`);
        return 2;
    }
    try {
        const headroomBytes = parseHeadroom(values.headroom as string | undefined);
        const top = Number(values.top);
        let measurement: Measurement;
        let build: LayerBuild | undefined;
        let decision: Decision;
        let weights: DependencyWeight[];
        if (values.requirements !== undefined) {
            const runtime = parseRuntime(String(values.python));
            const architecture = parseArch(String(values.arch));
            build = buildLayer({
                requirements: String(values.requirements),
                runtime,
                architecture,
                cacheDir: defaultCacheDir(),
                slim: !values["no-slim"],
                installer: parseInstaller(values.installer as string | undefined),
            });
            measurement = build.measurement;
            weights = build.weights;
            decision = decide({
                codeBytes: 0,
                layerBytes: [measurement.unzippedBytes],
                externalLayerBytes: [],
                headroomBytes,
                forced: "auto",
                missingWheels: build.missingWheels,
                packages: measurement.packages,
                weights,
            });
        } else {
            measurement = values.dir !== undefined ? measureDir(String(values.dir)) : measureZip(String(values.zip));
            weights = dependencyWeights(measurement);
            decision = decide({
                codeBytes: measurement.unzippedBytes,
                layerBytes: [],
                externalLayerBytes: [],
                headroomBytes,
                forced: "auto",
                packages: measurement.packages,
                weights,
            });
        }
        if (values.json) {
            process.stdout.write(JSON.stringify(report(measurement, decision, build, weights), null, 2) + "\n");
        } else {
            const lines = [formatSizeTable(decision, measurement.packages, { top })];
            if (build) {
                lines.push(`  layer: ${build.dir}` + (build.zipPath ? `\n  zip:   ${build.zipPath} (${formatBytes(build.zipBytes)}, sha256 ${build.zipSha256})` : ""));
                if (build.slimmed) lines.push(`  slimming removed ${formatBytes(build.slimmed.removedBytes)} (${build.slimmed.byRule.map((r) => `${r.rule} ${formatBytes(r.bytes)}`).join(", ")})`);
                lines.push(`  cache: ${build.cacheHit ? "hit" : "built"} (key ${build.key.slice(0, 12)})`);
            }
            process.stdout.write(lines.join("\n") + "\n");
        }
        return 0;
    } catch (e) {
        if (e instanceof MlLambdaError) {
            console.error(`ml-lambda size: ${e.message}`);
            return 1;
        }
        throw e;
    }
}

function report(m: Measurement, d: Decision, b: LayerBuild | undefined, weights: DependencyWeight[]) {
    return {
        unzippedBytes: m.unzippedBytes,
        files: m.files,
        decision: d,
        packages: m.packages.map((p) => ({ name: p.name, bytes: p.bytes, files: p.files })),
        /** Each distribution with what only it pulls in, heaviest first (top 10). */
        heaviest: weights.slice(0, 10).map((w) => ({ name: w.name, bytes: w.bytes, ownBytes: w.ownBytes, brings: w.brings })),
        ...(b
            ? {
                  layer: {
                      key: b.key,
                      dir: b.dir,
                      zipPath: b.zipPath || null,
                      zipBytes: b.zipBytes,
                      zipSha256: b.zipSha256 || null,
                      cacheHit: b.cacheHit,
                      buildMs: b.buildMs,
                      platforms: b.platforms,
                      installer: b.installer,
                      slimmed: b.slimmed ?? null,
                  },
                  missingWheels: b.missingWheels,
                  installerErrors: b.installerErrors,
              }
            : {}),
    };
}

function parseInstaller(v: string | undefined): "pip" | "uv" | undefined {
    if (v === undefined) return undefined;
    if (v === "pip" || v === "uv") return v;
    throw new MlLambdaError("--installer", v, 'one of "pip", "uv"', "use --installer pip (the default) or --installer uv");
}

function parseHeadroom(v: string | undefined): number {
    if (v === undefined) return DEFAULT_HEADROOM_BYTES;
    if (!/^\d+$/.test(v)) throw new MlLambdaError("--headroom", v, "a whole number of bytes", `e.g. --headroom ${DEFAULT_HEADROOM_BYTES}`);
    return Number(v);
}

function parseRuntime(v: string): Runtime {
    const rt = (v.startsWith("python") ? v : `python${v}`) as Runtime;
    if (!(SUPPORTED_RUNTIMES as readonly string[]).includes(rt)) {
        throw new MlLambdaError("--python", v, `one of ${SUPPORTED_RUNTIMES.map((r) => r.replace("python", "")).join(", ")}`, "use --python 3.12");
    }
    return rt;
}

function parseArch(v: string): Architecture {
    const a = v === "aarch64" ? "arm64" : v === "amd64" ? "x86_64" : v;
    if (!(ARCHITECTURES as readonly string[]).includes(a)) {
        throw new MlLambdaError("--arch", v, `one of ${ARCHITECTURES.join(", ")}`, "use --arch x86_64 or --arch arm64");
    }
    return a as Architecture;
}
