#!/usr/bin/env node
/**
 * `ml-lambda`: the command-line face of pulumi-ml-lambda. Dispatch only: each command owns its options, usage and
 * run (cli/command.ts says how a command is written and how exit codes are mapped); this file lists them.
 */
import * as fs from "fs";
import * as path from "path";
import { packageRoot } from "../components/assets";
import { Command, EXIT, EXIT_CODES_TEXT, reportError, runCommand } from "./command";

/** The commands, each loaded when used (all of them only for the top-level --help). */
export const COMMANDS: Record<string, () => Promise<Command<any>>> = {
    size: async () => (await import("./size")).command,
    plan: async () => (await import("./plan")).command,
    invoke: async () => (await import("./invoke")).command,
};

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
    return runCommand(await entry(), rest);
}

/** Runs the command line and exits with its code (the `ml-lambda` bin, bin/ml-lambda.js, calls this). */
export function runMain(argv: string[]): void {
    main(argv).then(
        (code) => process.exit(code),
        (err) => process.exit(reportError(undefined, err)),
    );
}

if (require.main === module) runMain(process.argv.slice(2));
