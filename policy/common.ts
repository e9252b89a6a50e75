/**
 * Helpers the policies of several areas share: Lambda's defaults, function identity, and Unknowns, which turns
 * "cannot tell before apply" into a not-applicable with its reasons instead of a guess.
 */
import * as aws from "@pulumi/aws";
import { PolicyResource, ReportViolation, StackValidationArgs } from "@pulumi/policy";
import { knownStrings, label, peek, resolveRef } from "./relate";

/** Lambda's defaults when a property is not set (CreateFunction API). */
export const LAMBDA_DEFAULT_MEMORY_MB = 128;
export const LAMBDA_DEFAULT_TIMEOUT_S = 3;

export const fmt = (n: number) => n.toLocaleString("en-US");

/** Lambda ARN or name -> name ("arn:aws:lambda:r:a:function:NAME[:qualifier]" -> NAME). */
export function functionNameOf(value: string): string[] {
    const arn = /^arn:aws[a-zA-Z-]*:lambda:[^:]*:[^:]*:function:([^:]+)(:.*)?$/.exec(value);
    if (arn) return [arn[1], value];
    const partial = /^[^:]+:function:([^:]+)$/.exec(value); // ACCOUNT:function:NAME
    return partial ? [partial[1], value] : [value];
}

export const functionKeys = (r: PolicyResource) => knownStrings(r, ["name", "arn", "id"]);
export const isFunction = (r: PolicyResource) => r.isType(aws.lambda.Function);

export function isZip(fn: { packageType?: string }): boolean {
    return (fn.packageType ?? "Zip") === "Zip";
}

/** Collects "can't tell before apply" reasons; if nothing definite was reported, the stack policy says why. */
export class Unknowns {
    private readonly reasons: string[] = [];
    private reported = 0;
    constructor(private readonly report: ReportViolation) {}
    violation: ReportViolation = (message: string, urn?: string) => {
        this.reported++;
        this.report(message, urn);
    };
    add(...reasons: string[]): void {
        for (const r of reasons) if (!this.reasons.includes(r)) this.reasons.push(r);
    }
    finish(args: StackValidationArgs): void {
        if (this.reported === 0 && this.reasons.length > 0) {
            args.notApplicable(`cannot be decided before apply (values unknown in preview; \`pulumi up\` re-checks): ${this.reasons.join("; ")}`);
        }
    }
}

export interface ProvisionedUse {
    resource: PolicyResource;
    /** Static count, or the auto scaling maximum. */
    max?: number;
    kind: "static" | "autoscaling";
}

/**
 * Provisioned concurrency (static configs and Application Auto Scaling targets) per function, plus the ones that
 * cannot be related to a function before apply.
 */
export function provisionedByFunction(resources: PolicyResource[]): { byFunction: Map<PolicyResource, ProvisionedUse[]>; unresolved: string[] } {
    const functions = resources.filter(isFunction);
    const byFunction = new Map<PolicyResource, ProvisionedUse[]>();
    const unresolved: string[] = [];
    const add = (fn: PolicyResource, use: ProvisionedUse) => byFunction.set(fn, [...(byFunction.get(fn) ?? []), use]);
    for (const r of resources) {
        if (r.isType(aws.lambda.ProvisionedConcurrencyConfig)) {
            const ref = resolveRef(r, "functionName", functions, { keys: functionKeys, normalize: functionNameOf });
            const count = peek<number>(r.props, "provisionedConcurrentExecutions");
            if (ref.kind === "resolved") add(ref.target, { resource: r, max: count.known ? count.value : undefined, kind: "static" });
            else if (ref.kind === "unknown") unresolved.push(`which function ${label(r)} configures (${ref.path})`);
        } else if (r.isType(aws.appautoscaling.Target)) {
            const dim = peek<string>(r.props, "scalableDimension");
            if (!dim.known) {
                unresolved.push(`${label(r)}.scalableDimension`);
                continue;
            }
            if (dim.value !== "lambda:function:ProvisionedConcurrency") continue;
            const ref = resolveRef(r, "resourceId", functions, {
                keys: functionKeys,
                // "function:NAME:QUALIFIER"
                normalize: (v) => {
                    const m = /^function:(.+):[^:]+$/.exec(v);
                    return m ? functionNameOf(m[1]) : [];
                },
            });
            const max = peek<number>(r.props, "maxCapacity");
            if (ref.kind === "resolved") add(ref.target, { resource: r, max: max.known ? max.value : undefined, kind: "autoscaling" });
            else if (ref.kind === "unknown") unresolved.push(`which function ${label(r)} scales (${ref.path})`);
        }
    }
    return { byFunction, unresolved };
}
