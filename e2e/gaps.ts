/**
 * What the local AWS (moto server 5.2.5) cannot do for this stack, named one by one. The e2e test compares the
 * resources that failed, were skipped or drift against THIS list exactly: an unexpected failure fails the test, and
 * so does a gap that no longer happens (then delete its entry). Each entry says why it is the emulator, not us.
 *
 * No moto-side shim closes these: each is an operation moto does not implement or a protocol it does not speak, and
 * a shim would be a fake AWS of our own whose answers the test would then check against itself. moto 5.2.5 is the
 * newest release (checked 2026-11-30).
 */
import { EngineRun, nameOf, typeOf } from "./engine";

export interface EmulatorGap {
    type: string;
    /** The resource's logical name. */
    name: string;
    stacks: Array<"dev" | "prod">;
    /**
     * failed: the create fails with `error`; skipped: never attempted (it depends on a failed resource);
     * drift: created, but the emulator does not store `diffs`, so a second preview wants to update them.
     */
    effect: "failed" | "skipped" | "drift";
    error?: RegExp;
    diffs?: string[];
    why: string;
}

const ALARM_WHY = "moto's CloudWatch speaks the query protocol only; the AWS SDK in terraform-provider-aws sends " +
    "CloudWatch calls in the newer smithy RPC v2 CBOR protocol (POST /service/GraniteServiceVersion20100801/operation/" +
    "PutMetricAlarm), which moto routes nowhere: 404";

export const EMULATOR_GAPS: EmulatorGap[] = [
    {
        type: "aws:cloudwatch/queryDefinition:QueryDefinition", name: "embeddings-report-query", stacks: ["dev", "prod"], effect: "failed",
        error: /PutQueryDefinition[\s\S]*(500|not (yet )?implemented|InternalFailure)/i,
        why: "moto 5.2.5 does not implement CloudWatch Logs PutQueryDefinition (answers 500)",
    },
    ...["embeddings-errors", "embeddings-throttles", "embeddings-p99-duration"].map((name): EmulatorGap => ({
        type: "aws:cloudwatch/metricAlarm:MetricAlarm", name, stacks: ["dev", "prod"], effect: "failed",
        error: /PutMetricAlarm[\s\S]*404/, why: ALARM_WHY,
    })),
    {
        type: "aws:appautoscaling/target:Target", name: "embeddings-pc-target", stacks: ["prod"], effect: "failed",
        error: /ListTagsForResource[\s\S]*(500|not (yet )?implemented|InternalFailure)/i,
        why: "moto 5.2.5 registers the scalable target but does not implement Application Auto Scaling " +
            "ListTagsForResource (500), which Terraform reads right after creating it",
    },
    {
        type: "aws:appautoscaling/policy:Policy", name: "embeddings-pc-policy", stacks: ["prod"], effect: "skipped",
        why: "depends on embeddings-pc-target (above)",
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
        const gap = gaps.find((g) => g.effect === "failed" && g.type === r.type && g.name === r.name);
        if (!gap) problems.push(`unexpected failure: ${r.type} ${r.name}: ${r.messages.join(" | ")}`);
        else if (gap.error && !r.messages.some((m) => gap.error!.test(m))) problems.push(`${r.type} ${r.name} failed, but not as the known gap (${gap.error}): ${r.messages.join(" | ")}`);
    }
    for (const k of skippedKeys) {
        if (!gaps.some((g) => g.effect === "skipped" && key(g.type, g.name) === k)) problems.push(`unexpectedly not created: ${k}`);
    }
    for (const g of gaps) {
        if (g.effect === "failed" && !failedKeys.has(key(g.type, g.name))) problems.push(`known gap did not happen (delete it from e2e/gaps.ts?): ${g.type} ${g.name} (${g.why})`);
        if (g.effect === "skipped" && !skippedKeys.has(key(g.type, g.name))) problems.push(`expected skipped but was not: ${g.type} ${g.name}`);
    }
    return problems;
}

/** A second preview's changes: each must be a named gap (a failed one is created again, a drift updates its props). */
export function compareSecondPreview(run: Pick<EngineRun, "resources">, gaps: EmulatorGap[]): { problems: string[]; expected: string[] } {
    const problems: string[] = [];
    const expected: string[] = [];
    for (const r of run.resources.values()) {
        if (!r.op || r.op === "same") continue;
        const what = `${r.op} ${r.type} ${r.name}${r.diffs?.length ? ` (${r.diffs.join(", ")})` : ""}`;
        const gap = gaps.find((g) => g.type === r.type && g.name === r.name);
        if (!gap) problems.push(what);
        else if (gap.effect === "drift" && (r.op !== "update" || r.diffs?.some((p) => !gap.diffs!.includes(p)))) problems.push(`${what}: beyond the known drift (${gap.diffs})`);
        else if (gap.effect !== "drift" && r.op !== "create") problems.push(`${what}: a ${gap.effect} gap should be a create`);
        else expected.push(`${what}: ${gap.why}`);
    }
    return { problems, expected };
}
