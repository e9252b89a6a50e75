/**
 * `ml-lambda plan`: the program run offline. Reads Pulumi.yaml + Pulumi.<stack>.yaml, runs the program under
 * Pulumi's mock engine in preview mode (the real packaging build and measurement included), and prints the
 * resource tree, the packaging decision with its size table, and every policy's verdict.
 * Exit codes as for every command (cli/command.ts): 0 fine (advisory findings allowed), 1 a mandatory policy
 * violation, 2 a configuration or usage error.
 */
import * as fs from "fs";
import * as path from "path";
import { MlLambdaError } from "../components/errors";
import { MLLAMBDA_TYPE } from "../components/identity";
import { formatSizeReport } from "../components/plan";
import type { SizeReport } from "../components/plan";
import { formatSizeTable } from "../components/packaging";
import { defaultCacheDir } from "../components/validate";
import { defineCommand, EXIT } from "./command";
import { OfflineRun, RecordedResource, resourceKey, runOffline } from "./offline";
import { recordDeployment } from "./run/manifest";

export const OFFLINE_NOTE =
    "OFFLINE PLAN: the program ran under Pulumi's mock engine in preview mode, without credentials; nothing was " +
    "sent to AWS. Config, builds, sizes and resource inputs are real; values only AWS computes (ARNs, versions, " +
    "image digests) are placeholders. `pulumi preview` with credentials is the real preview.";

export interface PolicyResult {
    name: string;
    description: string;
    enforcementLevel: string;
    violations: Array<{ message: string; resource?: string }>;
}

export interface PlanResult {
    project: string;
    stack: string;
    offline: true;
    note: string;
    resources: Array<{ type: string; name: string; parent?: string; inputs: Record<string, unknown> }>;
    decision: Array<SizeReport & { component: string }>;
    policies: PolicyResult[];
    outputs: Record<string, unknown>;
    mandatoryViolations: number;
    advisoryViolations: number;
    /** The deployment manifest written for `ml-lambda invoke --stack` (when asked to record). */
    deployment?: string;
}

/** The inputs worth a glance per resource type: [label, dotted path into the inputs]. */
const SHOWN: Record<string, Array<[string, string]>> = {
    "aws:lambda/function:Function": [["packageType", "packageType"], ["runtime", "runtime"], ["handler", "handler"], ["memorySize", "memorySize"], ["timeout", "timeout"], ["arch", "architectures"], ["tmp", "ephemeralStorage.size"], ["snapStart", "snapStart.applyOn"], ["reserved", "reservedConcurrentExecutions"], ["layers", "layers"], ["imageUri", "imageUri"]],
    "aws:lambda/layerVersion:LayerVersion": [["layerName", "layerName"], ["runtimes", "compatibleRuntimes"], ["s3Key", "s3Key"]],
    "aws:lambda/alias:Alias": [["name", "name"], ["version", "functionVersion"]],
    "aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig": [["qualifier", "qualifier"], ["provisioned", "provisionedConcurrentExecutions"]],
    "aws:appautoscaling/target:Target": [["resourceId", "resourceId"], ["min", "minCapacity"], ["max", "maxCapacity"]],
    "aws:appautoscaling/policy:Policy": [["targetUtilization", "targetTrackingScalingPolicyConfiguration.targetValue"]],
    "aws:s3/bucket:Bucket": [["forceDestroy", "forceDestroy"]],
    "aws:s3/bucketObjectv2:BucketObjectv2": [["key", "key"]],
    "aws:s3/bucketVersioning:BucketVersioning": [["status", "versioningConfiguration.status"]],
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": [["ownership", "rule.objectOwnership"]],
    "aws:cloudwatch/logGroup:LogGroup": [["name", "name"], ["retentionDays", "retentionInDays"]],
    "aws:cloudwatch/metricAlarm:MetricAlarm": [["metric", "metricName"], ["threshold", "threshold"]],
    "aws:ecr/repository:Repository": [["name", "name"], ["tags", "imageTagMutability"], ["scanOnPush", "imageScanningConfiguration.scanOnPush"]],
    "docker:index/image:Image": [["platform", "build.platform"], ["imageName", "imageName"]],
};

function pick(inputs: Record<string, any>, dotted: string): unknown {
    return dotted.split(".").reduce<any>((o, k) => (o === undefined || o === null ? undefined : o[k]), inputs);
}

function summary(r: RecordedResource): string {
    const parts: string[] = [];
    for (const [label, key] of SHOWN[r.type] ?? []) {
        const v = pick(r.inputs, key);
        if (v === undefined || v === null || v === "") continue;
        parts.push(`${label}=${Array.isArray(v) ? (label === "layers" ? v.length : v.join(",")) : typeof v === "object" ? JSON.stringify(v) : v}`);
    }
    if (r.type === "aws:iam/rolePolicy:RolePolicy" && typeof r.inputs.policy === "string") {
        try {
            const doc = JSON.parse(r.inputs.policy);
            parts.push(`actions=${doc.Statement.flatMap((s: any) => [s.Action].flat()).join(",")}`);
        } catch {
            // not resolved in preview: nothing to summarize
        }
    }
    return parts.join("  ");
}

/** The resource tree, children under their parents, in registration order. */
export function renderTree(resources: RecordedResource[], stackKey: string): string[] {
    const children = new Map<string | undefined, RecordedResource[]>();
    for (const r of resources) {
        if (resourceKey(r.type, r.name) === stackKey) continue; // the root itself
        const p = r.parent ?? stackKey;
        children.set(p, [...(children.get(p) ?? []), r]);
    }
    const lines = [stackKey.replace("::", "  ")];
    const walk = (key: string, prefix: string) => {
        const kids = children.get(key) ?? [];
        kids.forEach((r, i) => {
            const last = i === kids.length - 1;
            const s = summary(r);
            lines.push(`${prefix}${last ? "└─ " : "├─ "}${r.type}  ${r.name}${s ? "  " + s : ""}`);
            walk(resourceKey(r.type, r.name), prefix + (last ? "   " : "│  "));
        });
    };
    walk(stackKey, "");
    return lines;
}

async function evaluate(run: OfflineRun, policyConfigFile?: string): Promise<PolicyResult[]> {
    // Loaded lazily: the policy module pulls in @pulumi/policy.
    const { evaluatePolicies, loadPolicyConfig } = await import("../policy/evaluate");
    const config = policyConfigFile ? loadPolicyConfig(policyConfigFile) : undefined;
    const resources = run.resources.map((r) => ({
        type: r.type,
        name: r.name,
        urn: `urn:pulumi:${run.stack.stack}::${run.stack.project}::${r.type}::${r.name}`,
        props: r.inputs,
        // Ids and outputs let stack policies relate a RolePolicy to its Role, a bucket setting to its bucket, by value.
        id: r.id,
        outputs: r.outputs,
    }));
    return evaluatePolicies(resources, config);
}

/** Policy config for a stack: --policy-config, else policy/config.<stack>.json next to the program, if any. */
export function policyConfigFor(projectDir: string, stack: string, explicit?: string): string | undefined {
    if (explicit) {
        if (!fs.existsSync(explicit)) throw new MlLambdaError("--policy-config", explicit, "file not found", "give the path of a policy config JSON file");
        return explicit;
    }
    const candidate = path.join(projectDir, "policy", `config.${stack}.json`);
    return fs.existsSync(candidate) ? candidate : undefined;
}

export async function plan(opts: { projectDir: string; stack: string; policyConfig?: string; record?: boolean }): Promise<PlanResult> {
    const run = await runOffline({ projectDir: opts.projectDir, stack: opts.stack, preview: true });
    // What was built, for `ml-lambda invoke --stack` (the faithful run): cli/run/manifest.ts.
    const deployment = opts.record ? await recordDeployment(run, opts.projectDir, defaultCacheDir()) : undefined;
    const policies = await evaluate(run, policyConfigFor(opts.projectDir, opts.stack, opts.policyConfig));
    const decision = run.resources
        .filter((r) => r.type === MLLAMBDA_TYPE && r.inputs.sizeReport)
        .map((r) => ({ component: r.name, ...(r.inputs.sizeReport as SizeReport) }));
    const count = (level: string) => policies.filter((p) => p.enforcementLevel === level).reduce((n, p) => n + p.violations.length, 0);
    return {
        project: run.stack.project,
        stack: run.stack.stack,
        offline: true,
        note: OFFLINE_NOTE,
        resources: run.resources.map((r) => ({ type: r.type, name: r.name, parent: r.parent, inputs: r.inputs })),
        decision,
        policies,
        outputs: run.outputs,
        mandatoryViolations: count("mandatory"),
        advisoryViolations: count("advisory"),
        deployment,
    };
}

export function renderPlan(p: PlanResult): string {
    const stackKey = resourceKey("pulumi:pulumi:Stack", `${p.project}-${p.stack}`);
    const out: string[] = [`ml-lambda plan: stack "${p.stack}" of project "${p.project}"`, "", OFFLINE_NOTE, ""];
    out.push(`Resources (${p.resources.length})`, ...renderTree(p.resources as RecordedResource[], stackKey).map((l) => "  " + l), "");
    for (const d of p.decision) {
        out.push(`Packaging of ${d.component}: ${d.mode.toUpperCase()}`);
        // A report without the delivery fields comes from an older pulumi-ml-lambda in the program: its plain table.
        const table = d.mode === "zip" && !d.model ? formatSizeTable(d, d.packages, { top: 10 }) : formatSizeReport(d, { top: 10 });
        out.push(...table.split("\n").map((l) => "  " + l), "");
    }
    const failed = p.policies.filter((x) => x.violations.length > 0);
    out.push(`Policies (${p.policies.length}): ${p.policies.length - failed.length} passed, ${p.advisoryViolations} advisory finding(s), ${p.mandatoryViolations} mandatory violation(s)`);
    for (const pol of p.policies) {
        const mark = pol.violations.length === 0 ? "ok  " : pol.enforcementLevel === "mandatory" ? "FAIL" : "warn";
        out.push(`  ${mark} ${pol.name} (${pol.enforcementLevel})`);
        for (const v of pol.violations) out.push(`         ${v.resource ? v.resource + ": " : ""}${v.message}`);
    }
    if (p.deployment) out.push("", `Build recorded for \`ml-lambda invoke --stack ${p.stack}\`: ${path.relative(process.cwd(), p.deployment)}`);
    out.push("", p.mandatoryViolations > 0 ? "Result: REFUSED (mandatory policy violations above)" : "Result: OK");
    return out.join("\n");
}

export const command = defineCommand({
    name: "plan",
    summary: "run the stack offline under Pulumi's mock engine: resources, packaging decision, policy verdicts",
    usage: ["[options]"],
    options: {
        stack: { type: "string", short: "s", default: "dev", arg: "NAME", help: "the stack whose Pulumi.<stack>.yaml to run" },
        json: { type: "boolean", help: "print one JSON object on stdout (the plan, or the error)" },
        project: { type: "string", default: ".", arg: "DIR", help: "the Pulumi project directory (Pulumi.yaml, index.ts)" },
        "policy-config": { type: "string", arg: "FILE", help: "policy pack config (default: policy/config.<stack>.json when it exists)" },
    },
    notes: OFFLINE_NOTE,
    async run(values) {
        const result = await plan({ projectDir: path.resolve(values.project), stack: values.stack, policyConfig: values["policy-config"], record: true });
        if (values.json) process.stdout.write(JSON.stringify(result, null, 2) + "\n");
        else console.log(renderPlan(result));
        return result.mandatoryViolations > 0 ? EXIT.failed : EXIT.ok;
    },
});
