/**
 * The command framework (cli/command.ts): usage generated from the parser's own option table, one exit-code
 * mapping for every command. In-process and fast; the commands themselves are tested in packaging-cli.spec.ts
 * (size) and plan.spec.ts (plan).
 */
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { defineCommand, EXIT, runCommand, usageText } from "../cli/command";
import { COMMANDS, helpText } from "../cli/main";
import { MlLambdaError } from "../components/errors";
import { PolicyConfigError } from "../policy/evaluate";

/** Runs fn with console.log/error and stdout captured. */
async function captured<T>(fn: () => Promise<T>): Promise<{ result: T; out: string; err: string }> {
    const log = console.log;
    const error = console.error;
    const write = process.stdout.write;
    let out = "";
    let err = "";
    console.log = (...a: unknown[]) => { out += a.join(" ") + "\n"; };
    console.error = (...a: unknown[]) => { err += a.map(String).join(" ") + "\n"; };
    process.stdout.write = ((s: string) => { out += s; return true; }) as typeof process.stdout.write;
    try {
        return { result: await fn(), out, err };
    } finally {
        console.log = log;
        console.error = error;
        process.stdout.write = write;
    }
}

const probe = (thrown: () => unknown) => defineCommand({
    name: "probe",
    summary: "a test command",
    usage: ["--file FILE [options]"],
    options: {
        file: { type: "string", arg: "FILE", help: "a file" },
        json: { type: "boolean", help: "json" },
        tag: { type: "string", multiple: true, arg: "T", help: "a tag" },
    },
    async run(values) {
        thrown();
        assert.strictEqual(values.json, false, "booleans default to false");
        assert.deepStrictEqual(values.tag, [], "repeatable options default to []");
        return EXIT.ok;
    },
});

describe("cli: the command framework", () => {
    it("every flag a command's usage or notes mention is one its parser knows, and --help lists every option", async () => {
        for (const [name, load] of Object.entries(COMMANDS)) {
            const c = await load();
            const text = usageText(c);
            const known = new Set(Object.keys(c.options).map((o) => `--${o}`));
            const mentioned = [...`${c.usage.join(" ")} ${c.notes ?? ""}`.matchAll(/--[a-z][a-z-]*/g)].map((m) => m[0]);
            assert.deepStrictEqual(mentioned.filter((f) => !known.has(f)), [], `${name}: usage mentions flags its parser does not know`);
            for (const f of known) assert.match(text, new RegExp(`${f}\\b`), `${name} --help lacks ${f}`);
            assert.match(text, /Exit codes \(every command\):/);
        }
        assert.match(await helpText(), /Exit codes \(every command\):[\s\S]*2 {2}a user mistake/);
    });

    it("maps outcomes to one set of exit codes: user mistakes 2 (JSON on stdout with --json), bugs 1", async () => {
        const ok = await captured(() => runCommand(probe(() => {}), ["--file", "x"]));
        assert.strictEqual(ok.result, EXIT.ok);
        for (const [e, what] of [[new MlLambdaError("memorySize", 1, "a limit", "a fix"), "MlLambdaError"], [new PolicyConfigError("bad key"), "PolicyConfigError"]] as const) {
            const r = await captured(() => runCommand(probe(() => { throw e; }), ["--json"]));
            assert.strictEqual(r.result, EXIT.usage, what);
            assert.match(JSON.parse(r.out).error, /^ml-lambda probe: /, what);
            assert.match(r.err, /^ml-lambda probe: /, what);
        }
        const unknown = await captured(() => runCommand(probe(() => {}), ["--nope"]));
        assert.strictEqual(unknown.result, EXIT.usage);
        assert.match(unknown.err, /--nope[\s\S]*ml-lambda probe --help/);
        const bug = await captured(() => runCommand(probe(() => { throw new TypeError("x is undefined"); }), []));
        assert.strictEqual(bug.result, EXIT.failed);
        assert.match(bug.err, /TypeError: x is undefined/);
        assert.deepStrictEqual([EXIT.ok, EXIT.failed, EXIT.usage], [0, 1, 2]);
    });
});

describe("cli: the ml-lambda bin in a clone of the repository (bin/ml-lambda.js)", function () {
    this.timeout(180_000);
    const REPO = path.resolve(__dirname, "..");
    let clone: string;

    before(() => {
        // What a fresh clone has after `npm ci`: the sources and node_modules, no dist/ (nothing builds on install).
        clone = fs.mkdtempSync(path.join(fs.realpathSync(os.tmpdir()), "ml-lambda-clone-"));
        for (const p of ["package.json", "tsconfig.json", "bin", "cli", "components", "python/src", "python/requirements-onnx.txt", "python/requirements.txt"]) {
            fs.cpSync(path.join(REPO, p), path.join(clone, p), { recursive: true });
        }
        fs.symlinkSync(fs.realpathSync(path.join(REPO, "node_modules")), path.join(clone, "node_modules"));
    });
    after(() => fs.rmSync(clone, { recursive: true, force: true }));

    it("`npx ml-lambda` resolves the package's own bin and runs the sources (no dist/, no build)", () => {
        assert.ok(!fs.existsSync(path.join(clone, "dist")));
        // npx installs the local package into its cache to link its bin: a private npm cache, removed with the clone.
        const env = { ...process.env, npm_config_cache: path.join(clone, ".npm-cache"), npm_config_update_notifier: "false" };
        const version = spawnSync("npx", ["ml-lambda", "--version"], { cwd: clone, encoding: "utf8", env });
        assert.strictEqual(version.status, 0, version.stderr);
        assert.strictEqual(version.stdout.trim(), JSON.parse(fs.readFileSync(path.join(REPO, "package.json"), "utf8")).version);
        const help = spawnSync("npx", ["ml-lambda", "--help"], { cwd: clone, encoding: "utf8", env });
        assert.strictEqual(help.status, 0, help.stderr);
        assert.match(help.stdout, /^Usage: ml-lambda <command>/);
        assert.match(help.stdout, /^ {2}invoke /m);
    });

    it("the launcher prefers the sources over a stale dist/, and runs dist/ where the sources are not shipped", () => {
        const stale = path.join(clone, "dist", "cli");
        fs.mkdirSync(stale, { recursive: true });
        fs.writeFileSync(path.join(stale, "main.js"), "exports.runMain = () => { console.log('stale dist'); process.exit(0); };\n");
        const fromSources = spawnSync(process.execPath, [path.join(clone, "bin", "ml-lambda.js"), "--version"], { cwd: clone, encoding: "utf8" });
        assert.strictEqual(fromSources.stdout.trim(), JSON.parse(fs.readFileSync(path.join(REPO, "package.json"), "utf8")).version);
        // An npm install ships dist/ and bin/ but no cli/*.ts: the compiled CLI runs.
        fs.renameSync(path.join(clone, "cli", "main.ts"), path.join(clone, "cli", "main.ts.off"));
        try {
            const fromDist = spawnSync(process.execPath, [path.join(clone, "bin", "ml-lambda.js"), "--version"], { cwd: clone, encoding: "utf8" });
            assert.strictEqual(fromDist.stdout.trim(), "stale dist");
        } finally {
            fs.renameSync(path.join(clone, "cli", "main.ts.off"), path.join(clone, "cli", "main.ts"));
            fs.rmSync(path.join(clone, "dist"), { recursive: true, force: true });
        }
    });
});
