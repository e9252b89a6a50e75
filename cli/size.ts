/**
 * `ml-lambda size`: what will this weigh on Lambda, and zip or image?
 *
 * --requirements builds the dependency layer for the target (cached under ML_LAMBDA_CACHE_DIR or ./.ml-lambda);
 * --dir / --zip measure an existing tree or zip (the function code plus layers, as Lambda would count it).
 * Progress and the installer's output go to stderr; stdout carries only the report (one JSON object with --json).
 * Usage and exit codes: `ml-lambda size --help` (cli/command.ts).
 */
import { MlLambdaError } from "../components/errors";
import { DEFAULT_HEADROOM_BYTES } from "../components/limits";
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
    installerNamed,
    measureDir,
    measureZip,
    pinnedRequirements,
} from "../components/packaging";
import { defaultCacheDir, validateArchitecture, validateHeadroom, validateRuntime } from "../components/validate";
import { asFlag, defineCommand, EXIT, UsageError } from "./command";

export const command = defineCommand({
    name: "size",
    summary: "build dependencies for Lambda (cached), measure the unzipped size, and decide zip or image",
    usage: ["--requirements FILE [options]", "--dir DIR | --zip FILE [options]"],
    options: {
        requirements: { type: "string", arg: "FILE", help: "build this requirements file, or a uv project's lock (its pyproject.toml or uv.lock), into a layer for the target, then measure it" },
        dir: { type: "string", arg: "DIR", help: "measure this directory (code and/or layer contents) as Lambda counts it" },
        zip: { type: "string", arg: "FILE", help: "measure this zip from its central directory" },
        python: { type: "string", default: "3.12", arg: "VERSION", help: "target Python with --requirements: 3.11, 3.12, 3.13, 3.14 (or python3.12)" },
        arch: { type: "string", default: "x86_64", arg: "ARCH", help: "target architecture with --requirements: x86_64 or arm64" },
        installer: { type: "string", arg: "NAME", help: "pip or uv (default: env ML_LAMBDA_INSTALLER, else pip)" },
        "no-slim": { type: "boolean", help: "keep what the safe slimming rules would remove (tests, __pycache__, bin/)" },
        headroom: { type: "string", arg: "BYTES", help: `bytes kept free below the 262,144,000-byte limit (default ${DEFAULT_HEADROOM_BYTES})` },
        top: { type: "string", default: "10", arg: "N", help: "packages listed in the table" },
        json: { type: "boolean", help: "print one JSON object on stdout (the report, or the error)" },
    },
    notes: "Progress and the installer's output go to stderr; stdout carries only the report. Exit 0 when measured, whatever the decision.",
    async run(values) {
        const sources = (["requirements", "dir", "zip"] as const).filter((k) => values[k] !== undefined);
        if (sources.length !== 1) throw new UsageError("give exactly one of --requirements, --dir, --zip");
        const headroomBytes = parseHeadroom(values.headroom);
        const top = parseTop(values.top);
        let measurement: Measurement;
        let build: LayerBuild | undefined;
        let decision: Decision;
        let weights: DependencyWeight[];
        if (values.requirements !== undefined) {
            const runtime = asFlag("--python", values.python, () => validateRuntime(values.python.startsWith("python") ? values.python : `python${values.python}`).runtime);
            const arch = ({ aarch64: "arm64", amd64: "x86_64" } as Record<string, string>)[values.arch] ?? values.arch;
            const architecture = asFlag("--arch", values.arch, () => validateArchitecture(arch));
            const pinned = pinnedRequirements({ requirements: values.requirements, runtime, cacheDir: defaultCacheDir() });
            build = buildLayer({
                requirements: pinned.file,
                runtime,
                architecture,
                cacheDir: defaultCacheDir(),
                slim: !values["no-slim"],
                installer: values.installer === undefined ? undefined : installerNamed(values.installer, "--installer").name,
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
            measurement = values.dir !== undefined ? measureDir(values.dir) : measureZip(values.zip!);
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
        return EXIT.ok;
    },
});

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

function parseHeadroom(v: string | undefined): number {
    if (v === undefined) return DEFAULT_HEADROOM_BYTES;
    if (!/^\d+$/.test(v)) throw new MlLambdaError("--headroom", v, "a whole number of bytes", `e.g. --headroom ${DEFAULT_HEADROOM_BYTES}`);
    return validateHeadroom(Number(v), undefined, "--headroom");
}

function parseTop(v: string): number {
    if (!/^\d+$/.test(v)) throw new MlLambdaError("--top", v, "a whole number of packages", "e.g. --top 10");
    return Number(v);
}
