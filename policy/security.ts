/**
 * Access: least privilege for function roles, and IAM auth on function URLs.
 */
import * as aws from "@pulumi/aws";
import { PolicyResource } from "@pulumi/policy";
import { isFunction, Unknowns } from "./common";
import { resourcePolicy, stackPolicy, WithExclude } from "./factory";
import { actionMatches, isBucketWideResource, knownStrings, label, list, parseDocument, peek, resolveRef, S3_OBJECT_READ_ACTIONS, trustsLambda } from "./relate";

export const DEFAULT_DENIED_MANAGED_POLICIES = [
    "AdministratorAccess",
    "PowerUserAccess",
    "ReadOnlyAccess",
    "AmazonS3FullAccess",
    "AmazonS3ReadOnlyAccess",
    "AWSLambdaExecute",
    "AWSLambda_FullAccess",
    "AWSLambda_ReadOnlyAccess",
];

interface LeastPrivilegeConfig extends WithExclude {
    deniedManagedPolicies: string[];
    allowedWildcardActions: string[];
}

/**
 * Why a function needs no S3 read at all, or undefined: its model ships with it (MODEL_DIR set: the zip path's model
 * layer at /opt/ml/model, or a baked image) and it names no model object to fetch (no MODEL_BUCKET). MlLambda grants
 * such a function no S3 access; a grant left on its role (a hand-written policy, a leftover from when the model came
 * from S3) reads data the function never needs.
 */
export function modelShippedWithFunction(environment: unknown): string | undefined {
    const env = (environment && typeof environment === "object" ? environment : {}) as Record<string, unknown>;
    const dir = env.MODEL_DIR;
    if (typeof dir !== "string" || dir === "" || (env.MODEL_BUCKET !== undefined && env.MODEL_BUCKET !== "")) return undefined;
    return `its model ships with it (MODEL_DIR=${dir}, no MODEL_BUCKET), so it reads no S3 object`;
}

/**
 * Problems of one policy document for a function role. `noS3Read`: why the role's functions need no S3 read at all
 * (modelShippedWithFunction); then any S3 object read is a problem, however narrow.
 */
export function leastPrivilegeProblems(doc: unknown, allowedWildcards: string[] = [], noS3Read?: string): string[] {
    const parsed = parseDocument(doc);
    if (!parsed.ok) return [`its policy document cannot be read: ${parsed.error}`];
    const problems: string[] = [];
    for (const s of parsed.statements) {
        if ((s.Effect ?? "Allow") !== "Allow") continue;
        const sid = s.Sid ? ` (statement "${s.Sid}")` : "";
        if (s.NotAction !== undefined) problems.push(`Allow with NotAction grants every other action${sid}`);
        const actions = list(s.Action);
        for (const a of actions) {
            if (a.includes("*") && !allowedWildcards.includes(a)) problems.push(`action "${a}" is a wildcard${sid}`);
        }
        const reads = actions.some((a) => S3_OBJECT_READ_ACTIONS.some((r) => actionMatches(a, r)));
        if (reads && noS3Read) problems.push(`S3 object read granted, but ${noS3Read}: remove the grant${sid}`);
        if (reads) {
            if (s.NotResource !== undefined) problems.push(`S3 read with NotResource covers every bucket${sid}`);
            for (const r of list(s.Resource)) {
                if (isBucketWideResource(r)) problems.push(`S3 read on "${r}" reaches every object, not the model archive${sid}`);
            }
        }
    }
    return problems;
}

export const lambdaRoleLeastPrivilege = stackPolicy({
    name: "lambda-role-least-privilege",
    description: "Checks whether Lambda function roles avoid wildcard actions and bucket-wide S3 reads, in inline policies, RolePolicy resources, customer policies and AWS managed policies (e.g. AmazonS3ReadOnlyAccess), and grant no S3 read at all to a function whose model ships with it (MODEL_DIR, no MODEL_BUCKET).",
    enforcementLevel: "mandatory",
    config: {
        deniedManagedPolicies: {
            type: "array",
            items: { type: "string" },
            default: DEFAULT_DENIED_MANAGED_POLICIES,
            description: "AWS managed policies (by name) a function role must not have: each grants wildcard actions or reads every bucket.",
        },
        allowedWildcardActions: {
            type: "array",
            items: { type: "string" },
            default: [],
            description: 'Wildcard actions accepted anyway, exactly as written (e.g. "xray:Put*").',
        },
    },
    validate: (args, report, cfg: LeastPrivilegeConfig) => {
        const unknowns = new Unknowns(report);
        const roles = args.resources.filter((r) => r.isType(aws.iam.Role));
        const roleKeys = (r: PolicyResource) => knownStrings(r, ["name", "id", "arn"]);
        // Function roles: trusted by Lambda, or used by a function in the stack.
        const lambdaRoles = new Set<PolicyResource>();
        for (const role of roles) {
            const trust = peek(role.props, "assumeRolePolicy");
            if (trust.known && trustsLambda(trust.value)) lambdaRoles.add(role);
        }
        // Per role, whether every function using it ships its model (then it needs no S3 read): the reason, or null.
        const shipped = new Map<PolicyResource, string | null>();
        const everyFunction: Array<string | null> = [];
        for (const fn of args.resources.filter(isFunction)) {
            const env = peek(fn.props, "environment", "variables");
            const why = env.known ? modelShippedWithFunction(env.value) ?? null : null;
            everyFunction.push(why);
            const ref = resolveRef(fn, "role", roles, { keys: roleKeys });
            if (ref.kind !== "resolved") continue;
            lambdaRoles.add(ref.target);
            shipped.set(ref.target, shipped.has(ref.target) && shipped.get(ref.target) === null ? null : why);
        }
        // A policy or role that cannot be related to its functions yet (a first preview: ARNs unknown) is checked as
        // the stack's functions would have it: when every one of them ships its model, none may read S3.
        const allShipped = everyFunction.length > 0 && everyFunction.every((w) => w !== null) ? (everyFunction[0] as string) : undefined;
        const noS3ReadFor = (role: PolicyResource | undefined) => (role && shipped.has(role) ? shipped.get(role) ?? undefined : allShipped);
        const checked = [...lambdaRoles].filter((r) => !cfg.exclude.includes(r.name));
        const refersToFunctionRole = (from: PolicyResource, prop: string): { relevant: boolean; role?: PolicyResource } => {
            const ref = resolveRef(from, prop, roles, { keys: roleKeys });
            if (ref.kind === "resolved") return { relevant: checked.includes(ref.target), role: ref.target };
            // A role outside the stack, or one we cannot relate yet: check conservatively (this pack is for
            // ML Lambda stacks, where such policies are function-role policies).
            return { relevant: true };
        };
        const relevantPolicies = args.resources.some((r) => r.isType(aws.iam.RolePolicy) || r.isType(aws.iam.RolePolicyAttachment) || r.isType(aws.iam.PolicyAttachment));
        if (checked.length === 0 && !relevantPolicies) args.notApplicable("no Lambda function roles in the stack");

        const flag = (target: PolicyResource, role: PolicyResource | undefined, problems: string[]) => {
            const whose = role ? label(role) : "a function role";
            for (const p of problems) unknowns.violation(`${label(target)} on ${whose}: ${p}.`, target.urn);
        };
        const customerPolicies = args.resources.filter((r) => r.isType(aws.iam.Policy));
        const checkManaged = (target: PolicyResource, role: PolicyResource | undefined, arnProp: string, arnValue?: string) => {
            const arn = arnValue !== undefined ? { known: true as const, value: arnValue } : peek<string>(target.props, arnProp);
            const custom = arnValue === undefined ? resolveRef(target, arnProp, customerPolicies, { keys: (p) => knownStrings(p, ["arn", "id"]) }) : undefined;
            if (custom?.kind === "resolved") {
                const doc = peek(custom.target.props, "policy");
                if (!doc.known) unknowns.add(`${label(custom.target)}.policy`);
                else flag(target, role, leastPrivilegeProblems(doc.value, cfg.allowedWildcardActions, noS3ReadFor(role)).map((p) => `${label(custom.target)}: ${p}`));
                return;
            }
            if (!arn.known) {
                unknowns.add(`${label(target)}.${arnProp}`);
                return;
            }
            const name = String(arn.value ?? "").split("/").pop() ?? "";
            if (/:iam::aws:policy\//.test(String(arn.value)) && cfg.deniedManagedPolicies.includes(name)) {
                flag(target, role, [`the AWS managed policy ${name} grants wildcard actions or reads every bucket; grant the function only its own log group and model object`]);
            }
        };

        for (const role of checked) {
            const inline = peek<Array<{ name?: string; policy?: unknown }>>(role.props, "inlinePolicies");
            if (!inline.known) unknowns.add(`${label(role)}.inlinePolicies`);
            else for (const ip of inline.value ?? []) {
                if (ip?.policy) flag(role, role, leastPrivilegeProblems(ip.policy, cfg.allowedWildcardActions, noS3ReadFor(role)).map((p) => `inline policy "${ip.name ?? ""}": ${p}`));
            }
            const managed = peek<string[]>(role.props, "managedPolicyArns");
            if (!managed.known) unknowns.add(`${label(role)}.managedPolicyArns`);
            else for (const arn of managed.value ?? []) checkManaged(role, role, "managedPolicyArns", arn);
        }
        for (const r of args.resources) {
            if (r.isType(aws.iam.RolePolicy)) {
                const { relevant, role } = refersToFunctionRole(r, "role");
                if (!relevant) continue;
                const doc = peek(r.props, "policy");
                if (!doc.known) unknowns.add(`${label(r)}.policy`);
                else flag(r, role, leastPrivilegeProblems(doc.value, cfg.allowedWildcardActions, noS3ReadFor(role)));
            } else if (r.isType(aws.iam.RolePolicyAttachment)) {
                const { relevant, role } = refersToFunctionRole(r, "role");
                if (relevant) checkManaged(r, role, "policyArn");
            } else if (r.isType(aws.iam.PolicyAttachment)) {
                const deps = r.propertyDependencies?.roles ?? [];
                const names = peek<string[]>(r.props, "roles");
                const byDep = deps.filter((d) => roles.some((x) => x.urn === d.urn));
                const byName = names.known ? roles.filter((x) => roleKeys(x).some((k) => (names.value ?? []).includes(k))) : [];
                const related = [...byDep, ...byName];
                const external = names.known && (names.value ?? []).some((n) => !roles.some((x) => roleKeys(x).includes(n)));
                if (related.some((x) => checked.some((c) => c.urn === x.urn)) || (related.length === 0 && (external || !names.known))) {
                    checkManaged(r, undefined, "policyArn");
                }
            }
        }
        unknowns.finish(args);
    },
});


interface FunctionUrlConfig extends WithExclude {
    allowPublicUrls: boolean;
}
export const lambdaFunctionUrlAuth = resourcePolicy({
    name: "lambda-function-url-auth",
    description: "Checks whether each Lambda function URL requires IAM auth (authorizationType AWS_IAM) unless the policy config allows public URLs.",
    enforcementLevel: "mandatory",
    config: {
        allowPublicUrls: { type: "boolean", default: false, description: "Allow function URLs with authorizationType NONE (anyone on the internet can invoke)." },
    },
    resource: aws.lambda.FunctionUrl,
    validate: (url, args, report, cfg: FunctionUrlConfig) => {
        if (url.authorizationType === "NONE" && !cfg.allowPublicUrls) {
            report("the function URL has authorizationType NONE: anyone can invoke the model and run up the bill. Use AWS_IAM, or set allowPublicUrls: true in this stack's policy config.");
        }
    },
});
