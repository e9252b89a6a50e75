/**
 * Which Pulumi the e2e test drives.
 *   1. ML_LAMBDA_PULUMI=/path/to/pulumi: that CLI, with the user's own plugins (the engine finds or downloads the
 *      published aws plugin as usual) and the user's PULUMI_HOME.
 *   2. a `pulumi` on PATH (unless ML_LAMBDA_E2E_TOOLCHAIN=build): the same, with that CLI.
 *   3. otherwise (this project's CI): scripts/pulumi-toolchain.sh builds the CLI, the analyzer shim and the
 *      stand-in aws provider from Go modules into .cache/ (skipped when already built), put first on PATH, with a
 *      private PULUMI_HOME so nothing of a user's Pulumi setup is read or written.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { onPath } from "../cli/proc";

export interface Toolchain {
    kind: "installed" | "built";
    pulumi: string;
    /** Prepended to PATH for the CLI and every plugin it starts. */
    pathPrefix: string;
    /** Set only for the built toolchain (a private PULUMI_HOME). */
    privateHome: boolean;
    describe: string;
}

export function resolveToolchain(repo: string, log: (line: string) => void): Toolchain {
    const explicit = process.env.ML_LAMBDA_PULUMI;
    if (explicit) {
        if (!fs.existsSync(explicit)) throw new Error(`ML_LAMBDA_PULUMI=${explicit}: no such file; point it at a pulumi CLI binary or unset it`);
        return { kind: "installed", pulumi: explicit, pathPrefix: path.dirname(explicit), privateHome: false, describe: `ML_LAMBDA_PULUMI=${explicit} with your own plugins` };
    }
    const installed = onPath("pulumi", process.env);
    if (installed && process.env.ML_LAMBDA_E2E_TOOLCHAIN !== "build") {
        return { kind: "installed", pulumi: installed, pathPrefix: path.dirname(installed), privateHome: false, describe: `${installed} (on PATH) with your own plugins` };
    }
    log("no pulumi CLI on PATH: building/using the Go-module toolchain (scripts/pulumi-toolchain.sh)");
    const r = spawnSync("bash", [path.join(repo, "scripts", "pulumi-toolchain.sh")], { cwd: repo, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
    if (r.status !== 0) throw new Error(`scripts/pulumi-toolchain.sh failed (exit ${r.status}); see its output above`);
    const bin = r.stdout.trim().split("\n").pop()!;
    return {
        kind: "built",
        pulumi: path.join(bin, "pulumi"),
        pathPrefix: bin,
        privateHome: true,
        describe: `${bin} (built from Go modules: pulumi CLI, analyzer shim, STAND-IN aws provider)`,
    };
}
