#!/usr/bin/env node
/**
 * `ml-lambda`: the command-line face of pulumi-ml-lambda. Dispatch only: each command owns its options, usage and
 * run (cli/command.ts says how a command is written and how exit codes are mapped); this file lists them.
 */
import * as fs from "fs";
import * as path from "path";
import { packageRoot } from "../components/assets";
import { Command, EXIT, EXIT_CODES_TEXT, reportError, runCommand } from "./command";

/**
 * A command that still parses its own arguments and prints its own usage (invoke, until it is ported onto
 * cli/command.ts: then its entry below becomes `(await import("./invoke")).command` and this type goes).
 */
interface OwnParser {
    name: string;
    summary: string;
    usage: string;
    run(argv: string[]): Promise<number>;
}

/** The commands, each loaded when used (all of them only for the top-level --help). */
export const COMMANDS: Record<string, () => Promise<Command<any> | OwnParser>> = {
    size: async () => (await import("./size")).command,
    plan: async () => (await import("./plan")).command,
    invoke: async () => {
        const mod = await import("./invoke");
        return { name: "invoke", summary: "invoke the handler locally in AWS's runtime interface emulator, the way Lambda does", usage: mod.USAGE, run: mod.run };
    },
};

const ownsParser = (c: Command<any> | OwnParser): c is OwnParser => typeof c.usage === "string";

export function packageVersion(): string {
    try {
        return JSON.parse(fs.readFileSync(path.join(packageRoot(), "package.json"), "utf8")).version;
    } catch {
        return "unknown";
    }
}

export async function helpText(): Promise<string> {
    const commands = await Promise.all(Object.values(COMMANDS).map((load) => load()));
    const width = Math.max(...commands.map((c) => c.name.length));
    return [
        "Usage: ml-lambda <command> [options]",
        "",
        "Commands:",
        ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
        "",
        "Options:",
        "  --help, -h     show this help (or a command's: ml-lambda <command> --help)",
        "  --version, -v  print the version",
        "",
        EXIT_CODES_TEXT,
    ].join("\n");
}

export async function main(argv: string[]): Promise<number> {
    const [first, ...rest] = argv;
    if (first === undefined || first === "--help" || first === "-h" || first === "help") {
        console.log(await helpText());
        return EXIT.ok;
    }
    if (first === "--version" || first === "-v") {
        console.log(packageVersion());
        return EXIT.ok;
    }
    const entry = COMMANDS[first];
    if (!entry) {
        console.error(`ml-lambda: unknown command "${first}". Known commands: ${Object.keys(COMMANDS).join(", ")}.`);
        console.error("Run `ml-lambda --help` for usage.");
        return EXIT.usage;
    }
    const command = await entry();
    if (ownsParser(command)) {
        if (rest.includes("--help") || rest.includes("-h")) {
            console.log(`${command.summary}\n\n${command.usage}`);
            return EXIT.ok;
        }
        return command.run(rest);
    }
    return runCommand(command, rest);
}

if (require.main === module) {
    main(process.argv.slice(2)).then(
        (code) => process.exit(code),
        (err) => process.exit(reportError(undefined, err)),
    );
}
