/**
 * One timed offline plan, in a fresh process (run by bench/run.ts): `ts-node bench/plan-child.ts STACK`.
 * Prints one JSON line with two figures:
 *  - planMs: the plan() call itself: the program (index.ts and the components, compiled by ts-node and required
 *    afresh on every plan, as `pulumi preview` does), the build (layer, model, code zip) and its measurement, the
 *    mock engine and the policies;
 *  - withImportMs: the same plus importing cli/plan (its module graph: @pulumi/pulumi, the policy pack), which is
 *    the same cost whatever the build cache holds.
 * Node's and ts-node's own start-up are in neither.
 */
import * as path from "path";

async function main(): Promise<void> {
    const stack = process.argv[2] ?? "dev";
    const t0 = process.hrtime.bigint();
    const { plan } = await import("../cli/plan");
    const t1 = process.hrtime.bigint();
    const result = await plan({ projectDir: path.resolve(__dirname, ".."), stack });
    const t2 = process.hrtime.bigint();
    process.stdout.write(JSON.stringify({
        planMs: Number(t2 - t1) / 1e6,
        withImportMs: Number(t2 - t0) / 1e6,
        mode: result.decision[0]?.mode,
        mandatoryViolations: result.mandatoryViolations,
    }) + "\n");
}

main().catch((e) => {
    process.stderr.write(`${e?.stack ?? e}\n`);
    process.exit(1);
});
