/**
 * Reads Pulumi.yaml and Pulumi.<stack>.yaml the way the Pulumi CLI hands config to a program: namespaced keys,
 * project defaults applied, top-level scalars as strings, objects as JSON. The mock engine never reads these
 * files, so tests and the offline plan use this to run the program with a stack's real settings.
 */
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { MlLambdaError } from "../components/errors";

export interface ProjectFile {
    name: string;
    runtime: unknown;
    config?: Record<string, { type?: string; default?: unknown; description?: string } | string | number | boolean>;
}

export interface LoadedStack {
    project: string;
    stack: string;
    /** "namespace:key" → value as the program sees it through pulumi.Config. */
    config: Record<string, string>;
    /** The project's own keys without the namespace, values as written (numbers stay numbers). */
    projectConfig: Record<string, unknown>;
    stackFile: string;
}

export function readProject(projectDir: string): ProjectFile {
    const file = path.join(projectDir, "Pulumi.yaml");
    if (!fs.existsSync(file)) throw new MlLambdaError("Pulumi.yaml", file, "no Pulumi project file here", "run from the project directory");
    return YAML.parse(fs.readFileSync(file, "utf8")) as ProjectFile;
}

function asConfigString(v: unknown): string {
    return typeof v === "object" && v !== null ? JSON.stringify(v) : String(v);
}

export function loadStack(projectDir: string, stack: string): LoadedStack {
    const project = readProject(projectDir);
    const stackFile = path.join(projectDir, `Pulumi.${stack}.yaml`);
    if (!fs.existsSync(stackFile)) {
        const known = fs.readdirSync(projectDir).filter((f) => /^Pulumi\.[^.]+\.yaml$/.test(f)).map((f) => f.slice(7, -5));
        throw new MlLambdaError("stack", stack, `no Pulumi.${stack}.yaml in ${projectDir}`, `use one of: ${known.join(", ") || "(none)"}`);
    }
    const parsed = (YAML.parse(fs.readFileSync(stackFile, "utf8")) ?? {}) as { config?: Record<string, unknown> };
    const stackConfig = parsed.config ?? {};
    const config: Record<string, string> = {};
    const projectConfig: Record<string, unknown> = {};
    // Project defaults first, then the stack's values over them, as `pulumi up` does.
    for (const [key, decl] of Object.entries(project.config ?? {})) {
        const def = typeof decl === "object" && decl !== null ? decl.default : decl;
        const full = key.includes(":") ? key : `${project.name}:${key}`;
        if (def !== undefined) {
            config[full] = asConfigString(def);
            if (!key.includes(":")) projectConfig[key] = def;
        }
    }
    for (const [key, value] of Object.entries(stackConfig)) {
        const full = key.includes(":") ? key : `${project.name}:${key}`;
        config[full] = asConfigString(value);
        const [ns, bare] = full.split(":", 2);
        if (ns === project.name) projectConfig[bare] = value;
    }
    return { project: project.name, stack, config, projectConfig, stackFile };
}
