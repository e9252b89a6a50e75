/**
 * `npm run build`: a clean dist/ that works on its own once installed from the npm tarball.
 *   1. removes dist/ (a source file deleted since the last build must not ship as a stale .js);
 *   2. compiles components/, cli/ and policy/ (tsconfig.build.json: JS + .d.ts);
 *   3. copies the non-TypeScript files the compiled code loads by `__dirname`: components/model/prepare_model.py
 *      (spawned by the model preparation step), export_onnx.py (which it runs in the export Python), check_onnx.py
 *      (which it runs in the check Python), model_common.py and model_hub.py (what they import) and references/ (the default model's reference embeddings), so
 *      dist/components/model/ finds them exactly as components/model/ does; and cli/run/runtime/* (the faithful
 *      run's bootstrap for /var/runtime);
 *   4. turns dist/policy/ into a CrossGuard pack directory (PulumiPolicy.yaml, a package.json whose main is the
 *      compiled index.js, config.prod.json), for `pulumi preview --policy-pack node_modules/pulumi-ml-lambda/dist/policy`;
 *   5. marks the `ml-lambda` bin executable (tsc keeps its #! line but not a mode).
 * The bundled Python function (python/) ships as it is, next to dist/, and is found through packageRoot().
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

const ROOT = path.resolve(__dirname, "..");
const DIST = path.join(ROOT, "dist");

/** Files copied verbatim: source (relative to the repo) → destination (relative to dist/). */
export const COPIED: Array<[string, string]> = [
    ["components/model/prepare_model.py", "components/model/prepare_model.py"],
    ["components/model/export_onnx.py", "components/model/export_onnx.py"],
    ["components/model/check_onnx.py", "components/model/check_onnx.py"],
    ["components/model/model_common.py", "components/model/model_common.py"],
    ["components/model/model_hub.py", "components/model/model_hub.py"],
    ["components/model/references/all-MiniLM-L6-v2.json", "components/model/references/all-MiniLM-L6-v2.json"],
    ["policy/PulumiPolicy.yaml", "policy/PulumiPolicy.yaml"],
    ["policy/config.prod.json", "policy/config.prod.json"],
    // The faithful run's /var/runtime files (cli/run/tools.ts finds them next to its compiled module).
    ["cli/run/runtime/bootstrap", "cli/run/runtime/bootstrap"],
    ["cli/run/runtime/bootstrap.py", "cli/run/runtime/bootstrap.py"],
    ["cli/run/runtime/ml_lambda_probe.py", "cli/run/runtime/ml_lambda_probe.py"],
];

export const BIN = "cli/main.js";

/** package.json of the shipped pack directory: the repo's own points at index.ts (run with ts-node in the repo). */
export function policyPackManifest(): Record<string, unknown> {
    const repoPack = JSON.parse(fs.readFileSync(path.join(ROOT, "policy", "package.json"), "utf8"));
    return {
        name: repoPack.name,
        version: JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")).version,
        private: true,
        description: "CrossGuard pack shipped inside pulumi-ml-lambda; @pulumi/policy and @pulumi/pulumi resolve from the installing project's node_modules.",
        main: "index.js",
    };
}

function main(): void {
    fs.rmSync(DIST, { recursive: true, force: true });
    const tsc = require.resolve("typescript/bin/tsc");
    const r = spawnSync(process.execPath, [tsc, "-p", path.join(ROOT, "tsconfig.build.json")], { stdio: "inherit", cwd: ROOT });
    if (r.status !== 0) process.exit(r.status ?? 1);

    for (const [from, to] of COPIED) {
        const dest = path.join(DIST, to);
        fs.mkdirSync(path.dirname(dest), { recursive: true });
        fs.copyFileSync(path.join(ROOT, from), dest);
    }
    fs.writeFileSync(path.join(DIST, "policy", "package.json"), JSON.stringify(policyPackManifest(), null, 2) + "\n");

    const bin = path.join(DIST, BIN);
    if (!fs.readFileSync(bin, "utf8").startsWith("#!/usr/bin/env node\n")) {
        console.error(`build: ${bin} lost its #!/usr/bin/env node line`);
        process.exit(1);
    }
    fs.chmodSync(bin, 0o755);
    console.error(`build: dist/ ready (${COPIED.length} assets copied, ${BIN} executable)`);
}

if (require.main === module) main();
