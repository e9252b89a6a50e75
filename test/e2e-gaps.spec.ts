/**
 * The e2e test's verdict logic (e2e/gaps.ts), without an engine: an up may only fail where a named emulator gap
 * says so, a gap that stops happening is reported, and a second preview may only change the gaps.
 */
import * as assert from "assert";
import type { ResourceRecord } from "../e2e/engine";
import { compareSecondPreview, compareWithGaps, EmulatorGap } from "../e2e/gaps";

const urn = (type: string, name: string) => `urn:pulumi:dev::ml-lambda::pulumi-ml-lambda:index:MlLambda$${type}::${name}`;
const FN = "aws:lambda/function:Function";
const ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm";
const TARGET = "aws:appautoscaling/target:Target";
const POLICY = "aws:appautoscaling/policy:Policy";
const GAPS: EmulatorGap[] = [
    { type: ALARM, name: "errors", stacks: ["dev"], up: "failed", error: /PutMetricAlarm[\s\S]*404/, again: { op: "create" }, why: "cbor" },
    { type: TARGET, name: "t", stacks: ["dev"], up: "failed", again: { op: "update", diffs: ["tagsAll"] }, why: "tags" },
    { type: POLICY, name: "p", stacks: ["dev"], up: "skipped", again: { op: "create" }, why: "after t" },
    { type: FN, name: "fn", stacks: ["dev"], up: "ok", again: { op: "update", diffs: ["snapStart", "version"] }, why: "not stored" },
];

function run(records: Array<Partial<ResourceRecord> & { type: string; name: string }>) {
    const resources = new Map<string, ResourceRecord>();
    for (const r of records) resources.set(urn(r.type, r.name), { urn: urn(r.type, r.name), failed: false, messages: [], ...r });
    return { resources };
}

describe("e2e verdicts against the named emulator gaps", () => {
    const planned = [urn(FN, "fn"), urn(ALARM, "errors"), urn(TARGET, "t"), urn(POLICY, "p")];
    const alarmFailed = { type: ALARM, name: "errors", failed: true, messages: ["error: creating alarm: PutMetricAlarm, https response error StatusCode: 404"] };
    const targetFailed = { type: TARGET, name: "t", failed: true, messages: ["error: 500"] };

    it("passes when exactly the named gaps fail or are skipped", () => {
        assert.deepStrictEqual(compareWithGaps(run([alarmFailed, targetFailed]), planned, new Set([urn(FN, "fn")]), GAPS), []);
    });

    it("names an unexpected failure, and a known gap failing for another reason", () => {
        const problems = compareWithGaps(run([
            { ...alarmFailed, messages: ["error: AccessDenied"] }, targetFailed, { type: FN, name: "fn", failed: true, messages: ["error: boom"] },
        ]), planned, new Set(), GAPS);
        assert.ok(problems.some((p) => /unexpected failure: aws:lambda\/function:Function fn: error: boom/.test(p)), problems.join("\n"));
        assert.ok(problems.some((p) => /errors failed, but not as the known gap/.test(p)), problems.join("\n"));
    });

    it("names a gap that no longer happens, and a resource missing without a reason", () => {
        const problems = compareWithGaps(run([targetFailed]), [...planned, urn("aws:iam/role:Role", "role")],
            new Set([urn(FN, "fn"), urn(ALARM, "errors")]), GAPS);
        assert.ok(problems.some((p) => /known gap did not happen .*metricAlarm.* errors/.test(p)), problems.join("\n"));
        assert.ok(problems.some((p) => /unexpectedly not created: aws:iam\/role:Role::role/.test(p)), problems.join("\n"));
    });

    it("a second preview shows exactly the gaps' changes: no other change, no other property, none missing", () => {
        const gapsOnly = [
            { type: ALARM, name: "errors", op: "create" }, { type: TARGET, name: "t", op: "update", diffs: ["tagsAll"] },
            { type: POLICY, name: "p", op: "create" }, { type: FN, name: "fn", op: "update", diffs: ["version", "snapStart"] },
            { type: "aws:iam/role:Role", name: "role", op: "same" },
        ];
        const ok = compareSecondPreview(run(gapsOnly), GAPS);
        assert.deepStrictEqual(ok.problems, []);
        assert.strictEqual(ok.expected.length, 4);
        const bad = compareSecondPreview(run([
            ...gapsOnly.filter((r) => r.type !== FN && r.type !== POLICY),
            { type: FN, name: "fn", op: "update", diffs: ["snapStart", "version", "memorySize"] },
            { type: "aws:iam/role:Role", name: "role", op: "update", diffs: ["tags"] },
        ]), GAPS);
        assert.deepStrictEqual(bad.problems, [
            "update aws:iam/role:Role role (tags)",
            "update aws:lambda/function:Function fn (memorySize, snapStart, version): the known gap shows as update (snapStart, version)",
            "known gap shows no change any more (update e2e/gaps.ts?): aws:appautoscaling/policy:Policy p",
        ]);
    });
});
