/**
 * The project's own program (index.ts) as an Automation API inline program, in a temporary workspace: the CLI
 * joins the program through `--client`, so no Node.js language host is needed, and the repository's Pulumi.yaml and
 * Pulumi.<stack>.yaml are read, never rewritten (the workspace gets copies, plus the provider settings for the local
 * AWS). Every engine event is recorded per resource, so the test can name what failed, what a preview would change
 * and which policies ran.
 */
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import type { EngineEvent, Stack } from "@pulumi/pulumi/automation";

export interface ResourceRecord {
    urn: string;
    type: string;
    name: string;
    op?: string;
    /** Top-level property names the step changes (preview / update). */
    diffs?: string[];
    failed: boolean;
    /** Diagnostics the engine attached to this resource (errors and warnings). */
    messages: string[];
}

export interface PolicyRecord { policyPack: string; policy: string; level: string; urn?: string; message: string }

export interface EngineRun {
    ok: boolean;
    error?: string;
    /** The CLI's exit code (0 when ok). */
    exitCode: number;
    resources: Map<string, ResourceRecord>;
    policies: PolicyRecord[];
    summary?: Record<string, number>;
    /** The CLI's whole output (its "Policies:" section names each pack that ran). */
    output: string;
    seconds: number;
}

export const typeOf = (urn: string) => urn.split("::")[2].split("$").pop()!;
export const nameOf = (urn: string) => urn.split("::").slice(3).join("::");

export interface StackSetup {
    repo: string;
    /** Where workspaces and the file backend live (a temp dir). */
    baseDir: string;
    stackName: string;
    /** The repository's stack file to start from (Pulumi.<this>.yaml). */
    fromStack: string;
    /** ml-lambda:* overrides (e.g. a policy-breaking value), applied on top of the copied stack file. */
    overrides?: Record<string, unknown>;
    providerConfig: Record<string, unknown>;
    env: Record<string, string>;
}

/** Creates (or selects) the stack in its own temp workspace, with the repository's settings copied in. */
export async function openStack(s: StackSetup): Promise<Stack> {
    const auto: typeof import("@pulumi/pulumi/automation") = require("@pulumi/pulumi/automation");
    const project = YAML.parse(fs.readFileSync(path.join(s.repo, "Pulumi.yaml"), "utf8"));
    const stackFile = YAML.parse(fs.readFileSync(path.join(s.repo, `Pulumi.${s.fromStack}.yaml`), "utf8"));
    const workDir = path.join(s.baseDir, `workspace-${s.stackName}`);
    const stateDir = path.join(s.baseDir, "state");
    fs.mkdirSync(workDir, { recursive: true });
    fs.mkdirSync(stateDir, { recursive: true });
    const config = { ...stackFile.config, ...(s.overrides ?? {}), ...s.providerConfig };
    fs.writeFileSync(path.join(workDir, `Pulumi.${s.stackName}.yaml`), YAML.stringify({ config }));
    const ws = await auto.LocalWorkspace.create({
        workDir,
        // The repository's project settings (name, runtime, typed config with defaults), on a local file backend.
        projectSettings: { ...project, main: undefined, backend: { url: `file://${stateDir}` } },
        program: async () => {
            // Fresh modules per run: dev and prod run one after the other in this process.
            // (not this harness's own modules under e2e/, nor node_modules: @pulumi/pulumi must stay one instance)
            const root = s.repo + path.sep;
            const harness = path.join(s.repo, "e2e") + path.sep;
            for (const key of Object.keys(require.cache)) {
                if (key.startsWith(root) && !key.startsWith(harness) && !key.includes(`${path.sep}node_modules${path.sep}`)) delete require.cache[key];
            }
            return require(path.join(s.repo, "index.ts"));
        },
        envVars: s.env,
    });
    return auto.Stack.createOrSelect(s.stackName, ws);
}

export type Operation = "preview" | "up" | "destroy";

export interface RunOptions {
    policyPacks?: string[];
    policyPackConfigs?: string[];
    log: (line: string) => void;
}

/** Runs one engine operation, recording every event; never throws on a failed operation (ok: false instead). */
export async function runEngine(stack: Stack, op: Operation, o: RunOptions): Promise<EngineRun> {
    const t0 = Date.now();
    const resources = new Map<string, ResourceRecord>();
    const policies: PolicyRecord[] = [];
    let summary: Record<string, number> | undefined;
    const rec = (urn: string): ResourceRecord => {
        let r = resources.get(urn);
        if (!r) {
            r = { urn, type: typeOf(urn), name: nameOf(urn), failed: false, messages: [] };
            resources.set(urn, r);
        }
        return r;
    };
    const onEvent = (e: EngineEvent) => {
        if (e.resourcePreEvent) {
            const m = e.resourcePreEvent.metadata;
            const r = rec(m.urn);
            r.op = m.op;
            r.diffs = m.diffs;
        } else if (e.resOpFailedEvent) {
            rec(e.resOpFailedEvent.metadata.urn).failed = true;
        } else if (e.diagnosticEvent?.urn && ["error", "warning"].includes(e.diagnosticEvent.severity)) {
            rec(e.diagnosticEvent.urn).messages.push(`${e.diagnosticEvent.severity}: ${e.diagnosticEvent.message.trim()}`);
        } else if (e.policyEvent) {
            const p = e.policyEvent;
            policies.push({ policyPack: p.policyPackName, policy: p.policyName, level: p.enforcementLevel, urn: p.resourceUrn, message: p.message });
        } else if (e.summaryEvent) {
            summary = e.summaryEvent.resourceChanges as Record<string, number>;
        }
    };
    let output = "";
    const onOutput = (out: string) => {
        output += out;
        // The CLI's progress dots and spinner lines carry nothing once the per-resource lines are printed.
        for (const line of out.split("\n")) if (line.trim() && !/^[\s.]*$|^@ (previewing|updating|destroying)\.*$/.test(line)) o.log(line);
    };
    const common = { onEvent, onOutput, color: "never" as const };
    const policy = { policyPacks: o.policyPacks, policyPackConfigs: o.policyPackConfigs };
    try {
        if (op === "preview") await stack.preview({ ...common, ...policy, diff: false });
        else if (op === "up") await stack.up({ ...common, ...policy, continueOnError: true });
        else await stack.destroy({ ...common, continueOnError: true });
        return { ok: true, exitCode: 0, resources, policies, summary, output, seconds: (Date.now() - t0) / 1000 };
    } catch (err) {
        // The Automation API re-wraps execa's rejection with code -2 ("unknown"); the CLI's own exit code is on the
        // wrapped execa error.
        const result = (err as { commandResult?: { code?: number; err?: { exitCode?: number } } }).commandResult;
        const exitCode = Number(result?.err?.exitCode ?? result?.code ?? -1);
        return { ok: false, exitCode, error: String((err as Error).message ?? err), resources, policies, summary, output, seconds: (Date.now() - t0) / 1000 };
    }
}

/** The stack's checkpoint: every resource with its inputs and outputs as the engine recorded them. */
export async function stateOf(stack: Stack): Promise<Array<{ urn: string; type: string; name: string; inputs: any; outputs: any; custom: boolean }>> {
    const d = await stack.exportStack();
    return ((d.deployment as any).resources ?? []).map((r: any) => ({ urn: r.urn, type: r.type, name: nameOf(r.urn), inputs: r.inputs ?? {}, outputs: r.outputs ?? {}, custom: !!r.custom }));
}
