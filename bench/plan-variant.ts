/**
 * The dev stack's build with some config changed, recorded as `ml-lambda plan` records a stack (cli/run/manifest.ts),
 * for the benchmark's faithful runs: `ts-node bench/plan-variant.ts '{"ml-lambda:backend": "onnx-int8"}'`.
 * Prints the manifest as one JSON line, with the component's size report beside it as `sizeReport` (nothing is
 * written under .ml-lambda/: the dev stack's own record stays).
 * Needs the plan's environment (bench/run.ts sets it as scripts/plan.sh does: model hub cache, export Python).
 */
import * as path from "path";
import { defaultCacheDir } from "../components/validate";
import { runOffline } from "../cli/offline";
import { buildManifest } from "../cli/run/manifest";
import { MLLAMBDA_TYPE } from "../components/identity";

async function main(): Promise<void> {
    const overrides = JSON.parse(process.argv[2] ?? "{}") as Record<string, string>;
    const projectDir = path.resolve(__dirname, "..");
    const run = await runOffline({ projectDir, stack: "dev", preview: true, configOverrides: overrides });
    const manifest = await buildManifest(run, { projectDir, cacheDir: defaultCacheDir() });
    const component = run.resources.find((r) => r.type === MLLAMBDA_TYPE);
    process.stdout.write(JSON.stringify({ ...manifest, sizeReport: component?.inputs.sizeReport }) + "\n");
}

main().catch((e) => {
    process.stderr.write(`${e?.stack ?? e}\n`);
    process.exit(1);
});
