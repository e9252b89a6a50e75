/**
 * Concurrency: reservations that leave the account its unreserved minimum, provisioned within reserved.
 */
import * as aws from "@pulumi/aws";
import { RESERVED_CONCURRENCY_MAX } from "../components/limits";
import { Unknowns, provisionedByFunction } from "./common";
import { resourcePolicy, stackPolicy, WithExclude } from "./factory";
import { label, peek } from "./relate";

interface ReservedConfig extends WithExclude {
    requireReservedConcurrency: boolean;
    maxReservedConcurrency: number;
}
export const lambdaReservedConcurrency = resourcePolicy({
    name: "lambda-reserved-concurrency",
    description: "Checks whether each Lambda function's reserved concurrency leaves the account's unreserved minimum, and, in stacks whose policy config sets requireReservedConcurrency, is set.",
    enforcementLevel: "mandatory",
    config: {
        requireReservedConcurrency: {
            type: "boolean",
            default: false,
            description: "Prod-like stacks: every function must reserve concurrency (a guaranteed and capped share of the account).",
        },
        maxReservedConcurrency: {
            type: "integer",
            minimum: 1,
            default: RESERVED_CONCURRENCY_MAX,
            description: "Largest reservation: the account default is 1,000 and 100 must stay unreserved.",
        },
    },
    resource: aws.lambda.Function,
    validate: (fn, args, report, cfg: ReservedConfig) => {
        const r = fn.reservedConcurrentExecutions;
        const unreserved = r === undefined || r === -1;
        if (!unreserved && r! > cfg.maxReservedConcurrency) {
            report(`reservedConcurrentExecutions ${r} is above ${cfg.maxReservedConcurrency}: the account must keep 100 unreserved (default account limit 1,000).`);
        }
        if (cfg.requireReservedConcurrency) {
            if (unreserved) report("this stack requires reserved concurrency (requireReservedConcurrency): set reservedConcurrency so the function is guaranteed capacity and capped against runaway cost.");
            else if (r === 0) report("reservedConcurrentExecutions 0 throttles every invocation; reserve at least 1.");
        }
    },
});

export const lambdaProvisionedWithinReserved = stackPolicy({
    name: "lambda-provisioned-within-reserved",
    description: "Checks whether each Lambda function's provisioned concurrency (static counts plus auto scaling maximums) fits within its reserved concurrency.",
    enforcementLevel: "mandatory",
    validate: (args, report, cfg: WithExclude) => {
        const unknowns = new Unknowns(report);
        const { byFunction, unresolved } = provisionedByFunction(args.resources);
        for (const u of unresolved) unknowns.add(u);
        if (byFunction.size === 0) {
            unknowns.finish(args);
            args.notApplicable("no provisioned concurrency in the stack");
        }
        for (const [fn, uses] of byFunction) {
            if (cfg.exclude.includes(fn.name)) continue;
            const reserved = peek<number>(fn.props, "reservedConcurrentExecutions");
            if (!reserved.known) {
                unknowns.add(`${label(fn)}.reservedConcurrentExecutions`);
                continue;
            }
            if (reserved.value === undefined || reserved.value === -1) continue;
            if (uses.some((u) => u.max === undefined)) {
                unknowns.add(`the provisioned concurrency of ${label(fn)}`);
                continue;
            }
            const total = uses.reduce((a, u) => a + (u.max ?? 0), 0);
            if (total > reserved.value) {
                unknowns.violation(`${label(fn)} reserves ${reserved.value} but provisions up to ${total} (${uses.map((u) => `${label(u.resource)}: ${u.max}`).join(", ")}); Lambda refuses provisioned concurrency above the reservation. Raise reservedConcurrency or lower the provisioned maximum.`, fn.urn);
            }
        }
        unknowns.finish(args);
    },
});
