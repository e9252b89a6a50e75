/**
 * SnapStart: the conditions Lambda sets for it, and never together with provisioned concurrency.
 */
import * as aws from "@pulumi/aws";
import { RUNTIMES, SNAPSTART_MAX_EPHEMERAL_MB } from "../components/limits";
import { fmt, isFunction, isZip, Unknowns, provisionedByFunction } from "./common";
import { resourcePolicy, stackPolicy, WithExclude } from "./factory";
import { label, peek } from "./relate";

function snapStartOn(fn: { snapStart?: { applyOn?: string } }): boolean {
    const on = fn.snapStart?.applyOn;
    return on !== undefined && on !== "None";
}

export const lambdaSnapStartCompatible = resourcePolicy({
    name: "lambda-snapstart-compatible",
    description: `Checks whether each Lambda function with SnapStart meets its conditions: python3.12+, published versions, no EFS, /tmp at most ${SNAPSTART_MAX_EPHEMERAL_MB} MB.`,
    enforcementLevel: "mandatory",
    resource: aws.lambda.Function,
    validate: (fn, args, report) => {
        if (!snapStartOn(fn)) args.notApplicable("SnapStart is off");
        if (isZip(fn) && fn.runtime) {
            const facts = RUNTIMES[fn.runtime];
            if (fn.runtime.startsWith("python") && !facts?.snapStart) {
                report(`SnapStart needs python3.12 or newer; runtime is ${fn.runtime}. Upgrade the runtime or turn snapStart off.`);
            }
        }
        const tmp = fn.ephemeralStorage?.size ?? SNAPSTART_MAX_EPHEMERAL_MB;
        if (tmp > SNAPSTART_MAX_EPHEMERAL_MB) {
            report(`SnapStart cannot be combined with ephemeral storage above ${SNAPSTART_MAX_EPHEMERAL_MB} MB (ephemeralStorage.size is ${fmt(tmp)}). Use ${SNAPSTART_MAX_EPHEMERAL_MB} MB or turn snapStart off.`);
        }
        if (fn.fileSystemConfig) report("SnapStart cannot be combined with an EFS file system (fileSystemConfig). Remove one of them.");
        if (fn.publish !== true) {
            report("SnapStart only applies to published versions, but publish is not true: the function would run without it. Set publish: true and invoke a version or alias.");
        }
    },
});

export const lambdaSnapStartWithoutProvisionedConcurrency = stackPolicy({
    name: "lambda-snapstart-without-provisioned-concurrency",
    description: "Checks whether no Lambda function with SnapStart also has provisioned concurrency (a ProvisionedConcurrencyConfig or an Application Auto Scaling target): Lambda refuses the combination.",
    enforcementLevel: "mandatory",
    validate: (args, report, cfg: WithExclude) => {
        const functions = args.resources.filter(isFunction).filter((f) => !cfg.exclude.includes(f.name));
        if (functions.length === 0) args.notApplicable("no Lambda functions in the stack");
        const unknowns = new Unknowns(report);
        const { byFunction, unresolved } = provisionedByFunction(args.resources);
        for (const fn of functions) {
            const snap = peek<{ applyOn?: string }>(fn.props, "snapStart");
            if (!snap.known) {
                if ((byFunction.get(fn) ?? []).length > 0 || unresolved.length > 0) unknowns.add(`${label(fn)}.snapStart`);
                continue;
            }
            if (!snapStartOn({ snapStart: snap.value })) continue;
            const uses = byFunction.get(fn) ?? [];
            for (const use of uses) {
                unknowns.violation(
                    `${label(fn)} has SnapStart and ${use.kind === "static" ? "provisioned concurrency" : "auto-scaled provisioned concurrency"} (${label(use.resource)}); Lambda does not allow both on one function. Choose one: SnapStart for cheaper cold starts, provisioned concurrency for none.`,
                    fn.urn,
                );
            }
            if (uses.length === 0) for (const u of unresolved) unknowns.add(u);
        }
        unknowns.finish(args);
    },
});
