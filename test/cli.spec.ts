/**
 * The command framework (cli/command.ts): usage generated from the parser's own option table, one exit-code
 * mapping for every command. In-process and fast; the commands themselves are tested in packaging-cli.spec.ts
 * (size) and plan.spec.ts (plan).
 */
import * as assert from "assert";
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
            const loaded = await load();
            if (!("options" in loaded)) continue; // invoke parses its own arguments until it is ported
            const c = loaded;
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
