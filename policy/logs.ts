/**
 * Logs: retention on every log group, and a declared log group for every function.
 */
import * as aws from "@pulumi/aws";
import { LOG_RETENTION_DAYS } from "../components/limits";
import { isFunction, Unknowns } from "./common";
import { resourcePolicy, stackPolicy, WithExclude } from "./factory";
import { knownStrings, label, peek } from "./relate";

interface RetentionConfig extends WithExclude {
    minRetentionDays: number;
    maxRetentionDays: number;
}
export const cloudwatchLogGroupRetention = resourcePolicy({
    name: "cloudwatch-log-group-retention",
    description: "Checks whether each CloudWatch log group has a retention (retentionInDays set to a value CloudWatch accepts, within the configured range), so logs do not accumulate forever.",
    enforcementLevel: "mandatory",
    config: {
        minRetentionDays: { type: "integer", minimum: 1, default: 1, description: "Shortest acceptable retention (days)." },
        maxRetentionDays: { type: "integer", minimum: 1, default: 3653, description: "Longest acceptable retention (days)." },
    },
    resource: aws.cloudwatch.LogGroup,
    validate: (lg, args, report, cfg: RetentionConfig) => {
        const days = lg.retentionInDays;
        if (days === undefined || days === 0) {
            report(`the log group keeps logs forever: set retentionInDays (e.g. 14 for dev, 30 for prod; one of ${LOG_RETENTION_DAYS.join(", ")}).`);
        } else if (!(LOG_RETENTION_DAYS as readonly number[]).includes(days)) {
            report(`retentionInDays ${days} is not a value CloudWatch accepts; use one of ${LOG_RETENTION_DAYS.join(", ")}.`);
        } else if (days < cfg.minRetentionDays || days > cfg.maxRetentionDays) {
            report(`retentionInDays ${days} is outside this stack's ${cfg.minRetentionDays}-${cfg.maxRetentionDays} day range.`);
        }
    },
});

interface ManagedLogGroupConfig extends WithExclude {
    externalLogGroups: string[];
}
export const lambdaLogGroupManaged = stackPolicy({
    name: "lambda-log-group-managed",
    description: "Checks whether each Lambda function logs to a log group declared in the stack (else Lambda creates /aws/lambda/<name> itself, with no retention).",
    enforcementLevel: "advisory",
    config: {
        externalLogGroups: { type: "array", items: { type: "string" }, default: [], description: "Log group names managed outside this stack (with their own retention)." },
    },
    validate: (args, report, cfg: ManagedLogGroupConfig) => {
        const functions = args.resources.filter(isFunction).filter((f) => !cfg.exclude.includes(f.name));
        if (functions.length === 0) args.notApplicable("no Lambda functions in the stack");
        const unknowns = new Unknowns(report);
        const groups = args.resources.filter((r) => r.isType(aws.cloudwatch.LogGroup));
        const groupNames = new Set(groups.flatMap((g) => knownStrings(g, ["name", "id"])));
        for (const fn of functions) {
            const deps = fn.propertyDependencies?.loggingConfig ?? [];
            if (deps.some((d) => groups.some((g) => g.urn === d.urn))) continue;
            const configured = peek<string>(fn.props, "loggingConfig", "logGroup");
            const name = peek<string>(fn.props, "name");
            if (!configured.known || (!configured.value && !name.known)) {
                unknowns.add(`the log group of ${label(fn)}`);
                continue;
            }
            const target = configured.value || `/aws/lambda/${(name as { value: string }).value}`;
            if (!groupNames.has(target) && !cfg.externalLogGroups.includes(target)) {
                unknowns.violation(`${label(fn)} logs to ${target}, which this stack does not declare: Lambda will create it without a retention. Add an aws.cloudwatch.LogGroup named ${target} with retentionInDays, or list it in externalLogGroups.`, fn.urn);
            }
        }
        unknowns.finish(args);
    },
});
