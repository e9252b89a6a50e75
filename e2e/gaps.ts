/**
 * What the local AWS (moto server 5.2.5) cannot do for this stack, named one by one. The e2e test compares the
 * resources that failed, were skipped or drift against THIS list exactly: an unexpected failure fails the test, and
 * so does a gap that no longer happens (then delete its entry). Each entry says why it is the emulator, not us.
 *
 * No moto-side shim closes these: each is an operation moto does not implement or a protocol it does not speak, and
 * a shim would be a fake AWS of our own whose answers the test would then check against itself. moto 5.2.5 is the
 * newest release (checked 2026-11-30).
 */
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
