/**
 * Runtime: Python runtimes Lambda has deprecated (refused) or will deprecate (advisory).
 */
import * as aws from "@pulumi/aws";
import { ADVISORY_RUNTIMES, DEPRECATED_RUNTIMES, RUNTIMES } from "../components/limits";
import { isZip } from "./common";
import { resourcePolicy, WithExclude } from "./factory";

interface RuntimeConfig extends WithExclude {
    asOf: string;
}

/** Both runtime policies judge deprecations at a date: today, or the one the config sets (tests, planning ahead). */
const AS_OF = {
    asOf: {
        type: "string" as const,
        default: "",
        pattern: "^$|^\\d{4}-\\d{2}-\\d{2}$",
        description: "Date (YYYY-MM-DD) deprecations are judged at; empty = today.",
    },
};

function today(cfg: RuntimeConfig): string {
    return cfg.asOf || new Date().toISOString().slice(0, 10);
}

/** Zip functions carry a runtime; image functions carry it inside the image (not visible to a policy). */
function runtimeOrSkip(fn: { packageType?: string; runtime?: string }, args: { notApplicable(reason?: string): never }): string {
    if (!isZip(fn)) args.notApplicable("container image functions carry their runtime in the image (python/Dockerfile's base image)");
    if (!fn.runtime) args.notApplicable("the function sets no runtime");
    return fn.runtime!;
}

export const lambdaRuntimeNotDeprecated = resourcePolicy({
    name: "lambda-runtime-not-deprecated",
    description: "Checks whether each zip Lambda function uses a Python runtime that Lambda has not deprecated (python3.9 and python3.10 are refused).",
    enforcementLevel: "mandatory",
    config: AS_OF,
    resource: aws.lambda.Function,
    validate: (fn, args, report, cfg: RuntimeConfig) => {
        const runtime = runtimeOrSkip(fn, args);
        const facts = RUNTIMES[runtime];
        const py = /^python(\d+)\.(\d+)$/.exec(runtime);
        if (!facts && !py) args.notApplicable(`runtime ${runtime}: this pack knows Python runtimes only`);
        // Older than anything in limits.ts (python2.7, python3.8 and before): long deprecated.
        const ancient = !facts && !!py && (Number(py[1]) < 3 || Number(py[2]) < 9);
        const deprecation = facts?.deprecation;
        if (DEPRECATED_RUNTIMES.includes(runtime) || ancient || (deprecation !== undefined && deprecation <= today(cfg))) {
            report(`runtime ${runtime} is deprecated${deprecation ? ` since ${deprecation}` : ""}: Lambda stops patching it and then blocks creates and updates. Use python3.12 or newer (SnapStart capable, Amazon Linux 2023).`);
        }
    },
});

export const lambdaRuntimeDeprecationApproaching = resourcePolicy({
    name: "lambda-runtime-deprecation-approaching",
    description: "Checks whether each zip Lambda function's Python runtime has an announced deprecation date still ahead (python3.11: 2027-06-30).",
    enforcementLevel: "advisory",
    config: AS_OF,
    resource: aws.lambda.Function,
    validate: (fn, args, report, cfg: RuntimeConfig) => {
        const runtime = runtimeOrSkip(fn, args);
        const deprecation = RUNTIMES[runtime]?.deprecation;
        const ahead = deprecation !== undefined && deprecation > today(cfg);
        if (ahead || (ADVISORY_RUNTIMES.includes(runtime) && deprecation === undefined)) {
            report(`runtime ${runtime} is deprecated on ${deprecation ?? "an announced date"}; it runs on Amazon Linux 2 and cannot use SnapStart. Plan a move to python3.12 or newer.`);
        }
    },
});
