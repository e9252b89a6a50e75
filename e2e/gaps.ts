/**
 * What the local AWS (moto server 5.2.5) cannot do for this stack, named one by one. The e2e test compares the
 * resources that failed, were skipped or drift against THIS list exactly: an unexpected failure fails the test, and
 * so does a gap that no longer happens (then delete its entry). Each entry says why it is the emulator, not us.
 *
 * No moto-side shim closes these: each is an operation moto does not implement or a protocol it does not speak, and
 * a shim would be a fake AWS of our own whose answers the test would then check against itself. moto 5.2.5 is the
 * newest release (checked 2026-11-30). The one shim the harness has (e2e/moto_tls.py) is of another kind: moto
 * evaluates bucket policies without the request's context, which would deny every object request under the model
 * bucket's TLS-only policy; the shim gives the policy aws:SecureTransport from the real request (its self-test shows
 * plain HTTP still denied), so the policy is evaluated as S3 evaluates it, not switched off.
 */
import { EngineRun, nameOf, typeOf } from "./engine";

export interface EmulatorGap {
    type: string;
    /** The resource's logical name. */
    name: string;
    stacks: Array<"dev" | "prod">;
    /** In the up: the create fails with `error`, is never attempted (it depends on a failed one), or succeeds. */
    up: "failed" | "skipped" | "ok";
    error?: RegExp;
    /** What a second preview then shows for it: created again, or updated on exactly these properties. */
    again: { op: "create" } | { op: "update"; diffs: string[] };
    why: string;
}

const ALARM_WHY = "moto's CloudWatch speaks the query protocol only; the AWS SDK in terraform-provider-aws sends " +
    "CloudWatch calls in the newer smithy RPC v2 CBOR protocol (POST /service/GraniteServiceVersion20100801/operation/" +
    "PutMetricAlarm), which moto routes nowhere: 404";
const FUNCTION_WHY = "moto stores neither the function's logging config (GetFunctionConfiguration has no " +
    "LoggingConfig) nor SnapStart (always ApplyOn None), so Terraform reads them back empty and a preview wants to " +
    "set them again; with publish: true that update would publish a new version (version, qualifiedArn, qualifiedInvokeArn)";

export const EMULATOR_GAPS: EmulatorGap[] = [
    {
        type: "aws:cloudwatch/queryDefinition:QueryDefinition", name: "embeddings-report-query", stacks: ["dev", "prod"], up: "failed",
        error: /PutQueryDefinition[\s\S]*StatusCode: 500/, again: { op: "create" },
        why: "moto 5.2.5 does not implement CloudWatch Logs PutQueryDefinition (answers 500)",
    },
    ...["embeddings-errors", "embeddings-throttles", "embeddings-p99-duration"].map((name): EmulatorGap => ({
        type: "aws:cloudwatch/metricAlarm:MetricAlarm", name, stacks: ["dev", "prod"], up: "failed",
        error: /PutMetricAlarm[\s\S]*StatusCode: 404/, again: { op: "create" }, why: ALARM_WHY,
    })),
    {
        type: "aws:lambda/function:Function", name: "embeddings", stacks: ["dev"], up: "ok",
        again: { op: "update", diffs: ["loggingConfig", "qualifiedArn", "qualifiedInvokeArn", "snapStart", "version"] }, why: FUNCTION_WHY,
    },
    {
        type: "aws:lambda/function:Function", name: "embeddings", stacks: ["prod"], up: "ok",
        again: { op: "update", diffs: ["loggingConfig", "qualifiedArn", "qualifiedInvokeArn", "version"] },
        why: FUNCTION_WHY.replace(" nor SnapStart (always ApplyOn None)", " (prod has SnapStart off)"),
    },
    {
        type: "aws:lambda/alias:Alias", name: "embeddings-live", stacks: ["dev", "prod"], up: "ok",
        again: { op: "update", diffs: ["functionVersion"] }, why: "follows the version the function's update above would publish",
    },
    {
        type: "aws:appautoscaling/target:Target", name: "embeddings-pc-target", stacks: ["prod"], up: "failed",
        error: /ListTagsForResource[\s\S]*StatusCode: 500/, again: { op: "update", diffs: ["tagsAll"] },
        why: "moto 5.2.5 registers the scalable target but does not implement Application Auto Scaling " +
            "ListTagsForResource (500), which Terraform calls right after; the engine keeps the registered target, " +
            "without the tags Terraform could not read, so a preview wants to set them",
    },
    {
        type: "aws:appautoscaling/policy:Policy", name: "embeddings-pc-policy", stacks: ["prod"], up: "skipped",
        again: { op: "create" }, why: "depends on embeddings-pc-target (above), whose create failed",
    },
];

export const gapsFor = (stack: string) => EMULATOR_GAPS.filter((g) => (g.stacks as string[]).includes(stack));

/** Failed/skipped resources of an up, compared with the named gaps; returns a readable mismatch list. */
export function compareWithGaps(run: Pick<EngineRun, "resources">, planned: string[], inState: Set<string>, gaps: EmulatorGap[]): string[] {
    const problems: string[] = [];
    const key = (type: string, name: string) => `${type}::${name}`;
    const failed = [...run.resources.values()].filter((r) => r.failed);
    const failedKeys = new Set(failed.map((r) => key(r.type, r.name)));
    const skipped = planned.filter((urn) => !inState.has(urn) && !run.resources.get(urn)?.failed);
    const skippedKeys = new Set(skipped.map((urn) => key(typeOf(urn), nameOf(urn))));
    for (const r of failed) {
        const gap = gaps.find((g) => g.up === "failed" && g.type === r.type && g.name === r.name);
        if (!gap) problems.push(`unexpected failure: ${r.type} ${r.name}: ${r.messages.join(" | ")}`);
        else if (gap.error && !r.messages.some((m) => gap.error!.test(m))) problems.push(`${r.type} ${r.name} failed, but not as the known gap (${gap.error}): ${r.messages.join(" | ")}`);
    }
    for (const k of skippedKeys) {
        if (!gaps.some((g) => g.up === "skipped" && key(g.type, g.name) === k)) problems.push(`unexpectedly not created: ${k}`);
    }
    for (const g of gaps) {
        if (g.up === "failed" && !failedKeys.has(key(g.type, g.name))) problems.push(`known gap did not happen (delete it from e2e/gaps.ts?): ${g.type} ${g.name} (${g.why})`);
        if (g.up === "skipped" && !skippedKeys.has(key(g.type, g.name))) problems.push(`expected skipped but was not: ${g.type} ${g.name}`);
    }
    return problems;
}

/** A second preview's changes: exactly the named gaps' `again`, nothing else, none missing. */
export function compareSecondPreview(run: Pick<EngineRun, "resources">, gaps: EmulatorGap[]): { problems: string[]; expected: string[] } {
    const problems: string[] = [];
    const expected: string[] = [];
    const seen = new Set<EmulatorGap>();
    for (const r of run.resources.values()) {
        if (!r.op || r.op === "same") continue;
        const diffs = [...(r.diffs ?? [])].sort();
        const what = `${r.op} ${r.type} ${r.name}${diffs.length ? ` (${diffs.join(", ")})` : ""}`;
        const gap = gaps.find((g) => g.type === r.type && g.name === r.name);
        if (!gap) {
            problems.push(what);
            continue;
        }
        seen.add(gap);
        const want = gap.again.op === "update" ? `update (${[...gap.again.diffs].sort().join(", ")})` : "create";
        const got = r.op === "update" ? `update (${diffs.join(", ")})` : r.op;
        if (got !== want) problems.push(`${what}: the known gap shows as ${want}`);
        else expected.push(`${what}: ${gap.why}`);
    }
    for (const g of gaps) if (!seen.has(g)) problems.push(`known gap shows no change any more (update e2e/gaps.ts?): ${g.type} ${g.name}`);
    return { problems, expected };
}
