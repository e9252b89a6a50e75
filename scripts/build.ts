/**
 * `npm run build`: a clean dist/ that works on its own once installed from the npm tarball.
 *   1. removes dist/ (a source file deleted since the last build must not ship as a stale .js);
 *   2. compiles components/, cli/ and policy/ (tsconfig.build.json: JS + .d.ts);
 *   3. copies the non-TypeScript files the compiled code loads by `__dirname`: components/model/prepare_model.py
 *      (spawned by the model preparation step) and export_onnx.py (which it runs in the export Python), so
 *      dist/components/model/ finds them exactly as components/model/ does;
 *   4. turns dist/policy/ into a CrossGuard pack directory (PulumiPolicy.yaml, a package.json whose main is the
 *      compiled index.js, config.prod.json), for `pulumi preview --policy-pack node_modules/pulumi-ml-lambda/dist/policy`;
 *   5. marks the `ml-lambda` bin executable (tsc keeps its #! line but not a mode);
 *   6. drops the comments from the emitted JS (the .d.ts files keep every doc comment, which is what a consumer's
 *      editor shows; the commented source is the repository): 14 % of the JS, ~19 KB of the packed tarball.
 * The bundled Python function (python/) ships as it is, next to dist/, and is found through packageRoot().
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import * as ts from "typescript";

const ROOT = path.resolve(__dirname, "..");
const DIST = path.join(ROOT, "dist");

/** Files copied verbatim: source (relative to the repo) → destination (relative to dist/). */
export const COPIED: Array<[string, string]> = [
    ["components/model/prepare_model.py", "components/model/prepare_model.py"],
    ["components/model/export_onnx.py", "components/model/export_onnx.py"],
    ["policy/PulumiPolicy.yaml", "policy/PulumiPolicy.yaml"],
    ["policy/config.prod.json", "policy/config.prod.json"],
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

    let stripped = 0;
    for (const file of jsFiles(DIST)) {
        const text = fs.readFileSync(file, "utf8");
        const printed = ts.createPrinter({ removeComments: true }).printFile(ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.JS));
        fs.writeFileSync(file, printed);
        stripped += text.length - printed.length;
    }

    const bin = path.join(DIST, BIN);
    if (!fs.readFileSync(bin, "utf8").startsWith("#!/usr/bin/env node\n")) {
        console.error(`build: ${bin} lost its #!/usr/bin/env node line`);
        process.exit(1);
    }
    fs.chmodSync(bin, 0o755);
    console.error(`build: dist/ ready (${COPIED.length} assets copied, ${BIN} executable, ${stripped} bytes of comments left out of the JS)`);
}

function jsFiles(dir: string): string[] {
    return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? jsFiles(path.join(dir, e.name)) : e.name.endsWith(".js") ? [path.join(dir, e.name)] : []);
}

if (require.main === module) main();
