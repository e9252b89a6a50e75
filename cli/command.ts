/**
 * How an `ml-lambda` command is written: one argument parser (node's util.parseArgs, strict), usage text that the
 * command owns and that is generated from the same option table the parser reads (so the two cannot drift), and
 * exit codes mapped here, in one place, for every command.
 *
 * A command module exports `command = defineCommand({ ... })`:
 *
 *   export const command = defineCommand({
 *       name: "size",
 *       summary: "one line for `ml-lambda --help`",
 *       usage: ["--requirements FILE [options]", "--dir DIR | --zip FILE [options]"],   // the forms, after "ml-lambda size"
 *       options: {
 *           requirements: { type: "string", arg: "FILE", help: "build this requirements file for the target" },
 *           json: { type: "boolean", help: "print one JSON object on stdout" },          // --json also makes errors JSON
 *           env: { type: "string", multiple: true, arg: "K=V", help: "repeatable" },
 *       },
 *       notes: "extra paragraphs for `ml-lambda size --help`",
 *       async run(values, positionals) { ...; return EXIT.ok; },
 *   });
 *
 * `run` returns an exit code (EXIT.ok, or EXIT.refused when the command ran and the answer is no) and throws for
 * anything else: a UsageError or an MlLambdaError (a user mistake) becomes EXIT.usage with the message on stderr
 * (and, when the command has a --json flag that was given, as {"error", "setting"} on stdout); any other error is
 * printed with its stack and exits EXIT.failed. `--help`/`-h` is handled here for every command.
 */
import { parseArgs } from "util";
import { MlLambdaError } from "../components/errors";

/** Exit codes, the same for every command (README: "Exit codes"). */
export const EXIT = {
    /** Done; the answer is yes (advisory findings allowed). */
    ok: 0,
    /** The command ran and the answer is no (a mandatory policy violation, a failed invocation), or it could not finish (a bug or an environment failure, printed with its stack). */
    failed: 1,
    /** A user mistake: unknown or missing flags, an invalid value, a setting or config file that is wrong. Fix the input and re-run. */
    usage: 2,
} as const;

export const EXIT_CODES_TEXT = [
    "Exit codes (every command):",
    `  ${EXIT.ok}  done; the answer is yes (advisory findings allowed)`,
    `  ${EXIT.failed}  the answer is no (a mandatory policy violation, a failed invocation), or the command could not finish`,
    `  ${EXIT.usage}  a user mistake: a wrong flag or value, an invalid setting or config (the message names it and the fix)`,
].join("\n");

/** A mistake in how the command was called: unknown flag, missing or conflicting flags, a malformed value. */
export class UsageError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "UsageError";
    }
}

/** Errors that are the user's to fix (their message says how): exit EXIT.usage, no stack. */
const USER_MISTAKES = new Set(["UsageError", "MlLambdaError", "PolicyConfigError"]);

export function isUserMistake(e: unknown): e is Error & { setting?: string } {
    return e instanceof Error && USER_MISTAKES.has(e.name);
}

export interface OptionSpec {
    type: "string" | "boolean";
    short?: string;
    default?: string | boolean;
    multiple?: boolean;
    /** Placeholder of the value in the usage text ("FILE", "BYTES"). */
    arg?: string;
    help: string;
}

type Values<O extends Record<string, OptionSpec>> = {
    [K in keyof O]: O[K]["type"] extends "boolean" ? boolean : O[K]["multiple"] extends true ? string[] : O[K]["default"] extends string ? string : string | undefined;
};

export interface Command<O extends Record<string, OptionSpec> = Record<string, OptionSpec>> {
    name: string;
    summary: string;
    /** The command's forms, after "ml-lambda <name> ". */
    usage: string[];
    options: O;
    /** Extra text for the command's --help, after the options. */
    notes?: string;
    /** Positional arguments are refused unless this names them (e.g. "FILE..."). */
    positionals?: string;
    run(values: Values<O>, positionals: string[]): Promise<number>;
}

export function defineCommand<O extends Record<string, OptionSpec>>(c: Command<O>): Command<O> {
    return c;
}

/** The command's --help: summary, forms, options (from the parser's own table), notes, exit codes. */
export function usageText(c: Command<any>): string {
    const flag = (name: string, o: OptionSpec) => `${o.short ? `-${o.short}, ` : ""}--${name}${o.type === "string" ? ` ${o.arg ?? "VALUE"}` : ""}`;
    const rows = Object.entries(c.options as Record<string, OptionSpec>).map(([name, o]) => {
        const def = o.default !== undefined && o.type === "string" ? ` (default ${o.default})` : "";
        return [flag(name, o), `${o.help}${def}${o.multiple ? " (repeatable)" : ""}`];
    });
    const w = Math.max(...rows.map((r) => r[0].length), "-h, --help".length);
    return [
        c.summary,
        "",
        ...c.usage.map((u, i) => `${i === 0 ? "Usage: " : "       "}ml-lambda ${c.name} ${u}`),
        "",
        "Options:",
        ...rows.map(([f, h]) => `  ${f.padEnd(w)}  ${h}`),
        `  ${"-h, --help".padEnd(w)}  show this help`,
        ...(c.notes ? ["", c.notes] : []),
        "",
        EXIT_CODES_TEXT,
    ].join("\n");
}

/** Parses argv, runs the command, and maps what happened to an exit code (see EXIT). */
export async function runCommand(c: Command<any>, argv: string[]): Promise<number> {
    if (argv.includes("--help") || argv.includes("-h")) {
        console.log(usageText(c));
        return EXIT.ok;
    }
    let values: Record<string, unknown> = {};
    try {
        const parsed = parseArgs({ args: argv, options: c.options as Record<string, OptionSpec>, strict: true, allowPositionals: c.positionals !== undefined });
        values = { ...parsed.values };
        for (const [name, o] of Object.entries(c.options as Record<string, OptionSpec>)) {
            if (values[name] === undefined && o.multiple) values[name] = [];
            else if (values[name] === undefined && o.type === "boolean") values[name] = false;
        }
        return await c.run(values as never, parsed.positionals);
    } catch (e) {
        return reportError(c.name, e, values.json === true);
    }
}

/** What `runCommand` prints for an error, and the exit code; also used by main.ts for errors outside a command. */
export function reportError(command: string | undefined, e: unknown, json = false): number {
    const prefix = command ? `ml-lambda ${command}` : "ml-lambda";
    // util.parseArgs throws TypeErrors with codes ERR_PARSE_ARGS_*: bad usage, not a bug.
    const parseError = (e as NodeJS.ErrnoException)?.code?.startsWith?.("ERR_PARSE_ARGS");
    if (isUserMistake(e) || parseError) {
        const msg = `${prefix}: ${(e as Error).message}`;
        if (json) process.stdout.write(JSON.stringify({ error: msg, setting: (e as { setting?: string }).setting }) + "\n");
        console.error(parseError || e instanceof UsageError ? `${msg}\nRun \`${prefix} --help\` for usage.` : msg);
        return EXIT.usage;
    }
    console.error(`${prefix}: failed:`, e);
    return EXIT.failed;
}

/**
 * A rule of the validation gate (components/validate.ts) applied to a flag: the error names the flag and the value
 * as typed (`--python 3.9`), not the setting the rule was written for.
 */
export function asFlag<T>(flag: string, typed: string, check: () => T): T {
    try {
        return check();
    } catch (e) {
        if (e instanceof MlLambdaError) throw new MlLambdaError(flag, typed, e.limit, e.fix);
        throw e;
    }
}
