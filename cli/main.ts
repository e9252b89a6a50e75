#!/usr/bin/env node
/**
 * `ml-lambda`: the command-line face of pulumi-ml-lambda.
 * Each subcommand lives in its own module and is loaded only when used, so `--help` stays instant.
 */
import * as fs from "fs";
import * as path from "path";

export interface Subcommand {
    summary: string;
    usage: string;
    /** Resolves to the process exit code. */
    load: () => Promise<{ run(argv: string[]): Promise<number> }>;
}

export const SUBCOMMANDS: Record<string, Subcommand> = {
    size: {
        summary: "build dependencies for Lambda (cached), measure the unzipped size, and decide zip or image",
        usage: "ml-lambda size --requirements FILE [--python 3.12] [--arch x86_64|arm64] [--installer pip|uv] [--json]\n" +
            "       ml-lambda size --dir DIR | --zip FILE [--headroom BYTES] [--json]",
        load: () => import("./size"),
    },
    plan: {
        summary: "run the stack offline under Pulumi's mock engine: resources, packaging decision, policy verdicts",
        usage: "ml-lambda plan [--stack dev|prod|NAME] [--json] [--project DIR] [--policy-config FILE]",
        load: () => import("./plan"),
    },
    invoke: {
        summary: "run a stack's planned build locally as Lambda runs it (--stack), or the handler's source, in AWS's runtime emulator",
        usage: "ml-lambda invoke --stack NAME --event FILE [--json] [--cpus N] [--repeat N] [--project DIR] [--function NAME] [--port N]\n" +
            "       ml-lambda invoke --event FILE --model-dir DIR [--handler-dir DIR] [--env K=V ...] [--repeat N]   (source run)",
        load: () => import("./invoke"),
    },
};

export function packageVersion(): string {
    // dist/cli/main.js and cli/main.ts both sit two levels below package.json at most.
    for (const dir of [path.join(__dirname, ".."), path.join(__dirname, "..", "..")]) {
        const file = path.join(dir, "package.json");
        if (fs.existsSync(file)) {
            const pkg = JSON.parse(fs.readFileSync(file, "utf8"));
            if (pkg.name === "pulumi-ml-lambda") return pkg.version;
        }
    }
    return "unknown";
}

export function helpText(): string {
    const width = Math.max(...Object.keys(SUBCOMMANDS).map((k) => k.length));
    const lines = Object.entries(SUBCOMMANDS).map(([name, s]) => `  ${name.padEnd(width)}  ${s.summary}`);
    return [
        "Usage: ml-lambda <command> [options]",
        "",
        "Commands:",
        ...lines,
        "",
        "Options:",
        "  --help, -h     show this help (or a command's: ml-lambda <command> --help)",
        "  --version, -v  print the version",
    ].join("\n");
}

export async function main(argv: string[]): Promise<number> {
    const [first, ...rest] = argv;
    if (first === undefined || first === "--help" || first === "-h" || first === "help") {
        console.log(helpText());
        return 0;
    }
    if (first === "--version" || first === "-v") {
        console.log(packageVersion());
        return 0;
    }
    const sub = SUBCOMMANDS[first];
    if (!sub) {
        console.error(`ml-lambda: unknown command "${first}". Known commands: ${Object.keys(SUBCOMMANDS).join(", ")}.`);
        console.error("Run `ml-lambda --help` for usage.");
        return 2;
    }
    if (rest.includes("--help") || rest.includes("-h")) {
        console.log(`${sub.summary}\n\nUsage: ${sub.usage}`);
        return 0;
    }
    const mod = await sub.load();
    return mod.run(rest);
}

if (require.main === module) {
    main(process.argv.slice(2)).then(
        (code) => process.exit(code),
        (err) => {
            // User mistakes carry their own complete message; anything else keeps its stack for a bug report.
            if (err && err.name === "MlLambdaError") console.error(`ml-lambda: ${err.message}`);
            else console.error(err);
            process.exit(1);
        },
    );
}
