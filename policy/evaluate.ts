/**
 * Runs the pack's policies over a list of resources in-process, the way the CrossGuard analyzer would, without
 * starting its gRPC server. The offline plan (`ml-lambda plan`) and the tests use it.
 *
 * What it mirrors from @pulumi/policy's analyzer (server.js):
 *  - resource policies see each resource's inputs, stack policies see every resource (outputs when given);
 *  - props are wrapped in the analyzer's unknown-checking proxy, so a value unknown in preview throws the same
 *    UnknownValueError (reported here as "can't run during preview", as the analyzer does, without failing);
 *  - isType/asType compare the class's __pulumiType token; notApplicable(reason) ends a validation;
 *  - a policy's enforcement level comes from its config, then the "all" entry, then the policy;
 *    "disabled" skips it, "remediate" counts as mandatory (the pack has no remediations);
 *  - getConfig() returns the config schema's defaults merged with the given config (the Pulumi CLI does the same).
 * What it adds: a minimal config check (unknown policies or keys, wrong types, out-of-range values) that names
 * the policy and key, instead of the CLI's JSON-schema validation.
 *
 * It is also the one test harness of the pack: resourceValidationArgs / stackValidationArgs build the analyzer's
 * arguments and runValidation runs one policy on them (test/policy-helpers.ts only describes resources).
 */
import * as fs from "fs";
import { isUnknown } from "@pulumi/pulumi";
// The engine's wire sentinels, as the analyzer's deserializer knows them.
import { specialSecretSig, specialSigKey, unknownValue } from "@pulumi/pulumi/runtime/rpc";
import {
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
    unknownCheckingProxy,
    UnknownValueError,
} from "@pulumi/policy";
import { schemaDefaults } from "./factory";
import { mlLambdaPolicies } from "./policies";

export type AnyPolicy = ResourceValidationPolicy | StackValidationPolicy;

/** One resource of the plan. */
export interface PlanResource {
    type: string;
    name: string;
    /** Identifies the resource in verdicts; defaults to "type::name". */
    urn?: string;
    /** The resource's inputs (what resource policies see, as in `pulumi preview`). */
    props: Record<string, any>;
    /**
     * Provider outputs when known (the mock engine's state): stack policies see inputs merged with these, like
     * the analyzer's stack validation sees outputs. Ids and ARNs here let stack policies relate resources by value.
     */
    outputs?: Record<string, any>;
    id?: string;
    /** urn (or type::name) of the parent. */
    parent?: string;
    /** urns (or type::name) this resource depends on, overall and per input property. */
    dependencies?: string[];
    propertyDependencies?: Record<string, string[]>;
}

export interface PolicyViolationReport {
    message: string;
    /** urn (or type::name) of the resource; absent for a stack-wide violation. */
    resource?: string;
}

export interface PolicyVerdict {
    name: string;
    description: string;
    enforcementLevel: EnforcementLevel;
    kind: "resource" | "stack";
    violations: PolicyViolationReport[];
    /** Why the policy did not apply ("resource: reason"), including values it could not read before apply. */
    notApplicable?: string[];
    /** Resources a resource policy evaluated (not skipped by type or not-applicable); 1/0 for a stack policy. */
    checked: number;
}

/** Per-policy config as in a `--policy-pack-config` file: a level, or properties plus an optional level. */
export type PolicyPackConfig = Record<string, EnforcementLevel | ({ enforcementLevel?: EnforcementLevel } & Record<string, unknown>)>;

export class PolicyConfigError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "PolicyConfigError";
    }
}

const LEVELS: EnforcementLevel[] = ["advisory", "mandatory", "remediate", "disabled"];

interface NormalizedPolicyConfig {
    level?: EnforcementLevel;
    props: Record<string, unknown>;
}

// ---------------------------------------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------------------------------------

function typeName(v: unknown): string {
    if (v === null) return "null";
    if (Array.isArray(v)) return "array";
    if (typeof v === "number" && Number.isInteger(v)) return "integer";
    return typeof v;
}

function checkValue(where: string, schema: any, v: unknown): void {
    if (schema === true || schema === undefined) return;
    const types: string[] = schema.type ? [schema.type].flat() : [];
    if (types.length) {
        const t = typeName(v);
        const ok = types.some((want) => want === t || (want === "number" && t === "integer"));
        if (!ok) throw new PolicyConfigError(`${where} must be ${types.join(" or ")}, got ${t} ${JSON.stringify(v)}`);
    }
    if (schema.enum && !schema.enum.some((e: unknown) => JSON.stringify(e) === JSON.stringify(v))) {
        throw new PolicyConfigError(`${where} must be one of ${schema.enum.map((e: unknown) => JSON.stringify(e)).join(", ")}, got ${JSON.stringify(v)}`);
    }
    if (typeof v === "number") {
        if (schema.minimum !== undefined && v < schema.minimum) throw new PolicyConfigError(`${where} must be at least ${schema.minimum}, got ${v}`);
        if (schema.maximum !== undefined && v > schema.maximum) throw new PolicyConfigError(`${where} must be at most ${schema.maximum}, got ${v}`);
    }
    if (typeof v === "string" && schema.pattern && !new RegExp(schema.pattern).test(v)) {
        throw new PolicyConfigError(`${where} must match ${schema.pattern}, got ${JSON.stringify(v)}`);
    }
    if (Array.isArray(v) && schema.items && !Array.isArray(schema.items)) v.forEach((item, i) => checkValue(`${where}[${i}]`, schema.items, item));
}

function checkLevel(where: string, v: unknown): EnforcementLevel {
    if (typeof v !== "string" || !LEVELS.includes(v as EnforcementLevel)) {
        throw new PolicyConfigError(`${where} must be one of ${LEVELS.join(", ")}, got ${JSON.stringify(v)}`);
    }
    return v as EnforcementLevel;
}

/**
 * Checks a policy pack config against the policies' schemas and normalizes it. Throws PolicyConfigError naming
 * the policy and the key: an unknown policy or property, a wrong type, a value out of range, a missing required
 * property.
 */
export function validatePolicyConfig(config: unknown, policies: AnyPolicy[] = mlLambdaPolicies): Map<string, NormalizedPolicyConfig> {
    const out = new Map<string, NormalizedPolicyConfig>();
    if (config === undefined || config === null) return out;
    if (typeof config !== "object" || Array.isArray(config)) throw new PolicyConfigError(`policy config must be an object keyed by policy name, got ${typeName(config)}`);
    const byName = new Map(policies.map((p) => [p.name, p]));
    for (const [name, entry] of Object.entries(config as Record<string, unknown>)) {
        const policy = byName.get(name);
        if (!policy && name !== "all") {
            throw new PolicyConfigError(`policy config: unknown policy "${name}" (policies: ${[...byName.keys()].join(", ")})`);
        }
        if (typeof entry === "string") {
            out.set(name, { level: checkLevel(`policy config "${name}"`, entry), props: {} });
            continue;
        }
        if (!entry || typeof entry !== "object" || Array.isArray(entry)) {
            throw new PolicyConfigError(`policy config "${name}" must be an enforcement level or an object, got ${typeName(entry)}`);
        }
        const { enforcementLevel, ...props } = entry as Record<string, unknown>;
        const level = enforcementLevel === undefined ? undefined : checkLevel(`policy config "${name}".enforcementLevel`, enforcementLevel);
        const schema: PolicyConfigSchema | undefined = policy?.configSchema;
        for (const [key, value] of Object.entries(props)) {
            const prop = schema?.properties[key];
            if (prop === undefined) {
                const known = Object.keys(schema?.properties ?? {});
                throw new PolicyConfigError(`policy config "${name}": unknown key "${key}" (${known.length ? `known: enforcementLevel, ${known.join(", ")}` : "only enforcementLevel"})`);
            }
            checkValue(`policy config "${name}".${key}`, prop, value);
        }
        for (const req of schema?.required ?? []) {
            if (!(req in props) && (schema!.properties[req] as any)?.default === undefined) {
                throw new PolicyConfigError(`policy config "${name}": "${req}" is required`);
            }
        }
        out.set(name, { level, props });
    }
    return out;
}

/** Reads and checks a policy config JSON file (the file given to `pulumi preview --policy-pack-config`). */
export function loadPolicyConfig(file: string, policies: AnyPolicy[] = mlLambdaPolicies): PolicyPackConfig {
    let parsed: unknown;
    try {
        parsed = JSON.parse(fs.readFileSync(file, "utf8"));
    } catch (e) {
        throw new PolicyConfigError(`${file}: ${(e as Error).message}`);
    }
    try {
        validatePolicyConfig(parsed, policies);
    } catch (e) {
        if (e instanceof PolicyConfigError) throw new PolicyConfigError(`${file}: ${e.message}`);
        throw e;
    }
    return parsed as PolicyPackConfig;
}

// ---------------------------------------------------------------------------------------------------------
// Building the analyzer's arguments by hand
// ---------------------------------------------------------------------------------------------------------

/** What notApplicable(reason) throws to end a validation, as the analyzer's own does. */
export class NotApplicable extends Error {
    constructor(readonly reason?: string) {
        super(reason ?? "Policy does not apply");
    }
}
const notApplicable = (reason?: string): never => {
    throw new NotApplicable(reason);
};

/** The token of a resource class (its static __pulumiType), as @pulumi/policy reads it. */
export function pulumiTypeOf(cls: unknown): string | undefined {
    const t = (cls as { __pulumiType?: unknown })?.__pulumiType;
    return typeof t === "string" && t.length > 0 ? t : undefined;
}

function isTypeOf(type: string, cls: any): boolean {
    const token = pulumiTypeOf(cls);
    if (token) return type === token;
    return typeof cls?.isInstance === "function" && cls.isInstance({ __pulumiType: type }) === true;
}

/**
 * What the analyzer's deserializer produces: secrets unwrapped, unknowns (the mock engine's `unknown` object in
 * preview) turned into the sentinel the proxy throws on.
 */
function normalizeValue(v: unknown, depth = 0): unknown {
    if (depth > 64 || v === null || typeof v !== "object") return v;
    if (isUnknown(v)) return unknownValue;
    if (Array.isArray(v)) return v.map((x) => normalizeValue(x, depth + 1));
    const o = v as Record<string, unknown>;
    if (o[specialSigKey] === specialSecretSig && "value" in o) return normalizeValue(o.value, depth + 1);
    if (Object.getPrototypeOf(o) !== Object.prototype && Object.getPrototypeOf(o) !== null) return v;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(o)) out[k] = normalizeValue(x, depth + 1);
    return out;
}

function propsOf(values: Record<string, any>): Record<string, any> {
    return unknownCheckingProxy(normalizeValue(values ?? {}) as Record<string, any>);
}

const keyOf = (r: PlanResource) => r.urn ?? `${r.type}::${r.name}`;

function optionsOf(r: PlanResource): PolicyResourceOptions {
    return {
        protect: false,
        ignoreChanges: [],
        aliases: [],
        customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
        additionalSecretOutputs: [],
        ...(r.parent ? { parent: r.parent } : {}),
    };
}

const emptyTags: ReadonlyMap<string, string> = new Map();

function isStackPolicy(p: AnyPolicy): p is StackValidationPolicy {
    return typeof (p as StackValidationPolicy).validateStack === "function";
}

/** Builds the StackValidationArgs resource list (parents and dependencies linked, outputs merged). */
export function stackResources(resources: PlanResource[]): PolicyResource[] {
    const byKey = new Map<string, PolicyResource>();
    const built = resources.map((r) => {
        const values = { ...r.props, ...(r.outputs ?? {}), ...(r.id !== undefined ? { id: r.id } : {}) };
        const props = propsOf(values);
        const pr: PolicyResource = {
            type: r.type,
            name: r.name,
            urn: keyOf(r),
            props,
            opts: optionsOf(r),
            dependencies: [],
            propertyDependencies: {},
            isType: (cls) => isTypeOf(r.type, cls),
            asType: ((cls: any) => (isTypeOf(r.type, cls) ? props : undefined)) as PolicyResource["asType"],
        };
        byKey.set(pr.urn, pr);
        // Accept "type::name" references as well when urns are given.
        byKey.set(`${r.type}::${r.name}`, pr);
        return { r, pr };
    });
    const look = (k: string) => byKey.get(k);
    for (const { r, pr } of built) {
        if (r.parent) pr.parent = look(r.parent);
        pr.dependencies = (r.dependencies ?? []).map(look).filter((x): x is PolicyResource => !!x);
        for (const [prop, deps] of Object.entries(r.propertyDependencies ?? {})) {
            pr.propertyDependencies[prop] = deps.map(look).filter((x): x is PolicyResource => !!x);
        }
    }
    return built.map((b) => b.pr);
}

type GetConfig = <T extends object>() => T;

/** ResourceValidationArgs for one resource, as the analyzer builds them (inputs behind the unknown-checking proxy). */
export function resourceValidationArgs(r: PlanResource, getConfig: GetConfig, stackTags: ReadonlyMap<string, string> = emptyTags): ResourceValidationArgs {
    const props = propsOf(r.props);
    return {
        type: r.type,
        props,
        urn: keyOf(r),
        name: r.name,
        opts: optionsOf(r),
        stackTags,
        isType: (cls) => isTypeOf(r.type, cls),
        asType: ((cls: any) => (isTypeOf(r.type, cls) ? props : undefined)) as ResourceValidationArgs["asType"],
        getConfig,
        notApplicable,
    };
}

/** StackValidationArgs over every resource (parents and dependencies linked, outputs merged). */
export function stackValidationArgs(resources: PlanResource[] | PolicyResource[], getConfig: GetConfig, stackTags: ReadonlyMap<string, string> = emptyTags): StackValidationArgs {
    const built = resources.length > 0 && typeof (resources[0] as PolicyResource).isType === "function"
        ? (resources as PolicyResource[])
        : stackResources(resources as PlanResource[]);
    return { resources: built, stackTags, getConfig, notApplicable };
}

/** What one policy reported for one set of arguments. */
export interface Outcome {
    violations: Array<{ message: string; urn?: string }>;
    /** The reason, when the policy called notApplicable. */
    notApplicable?: string;
}

/**
 * Runs one policy on analyzer arguments: violations and a not-applicable reason. Anything else the policy throws
 * (UnknownValueError for a value unknown in preview, a bug) is the caller's.
 */
export async function runValidation(policy: AnyPolicy, args: ResourceValidationArgs | StackValidationArgs): Promise<Outcome> {
    const violations: Outcome["violations"] = [];
    try {
        if (isStackPolicy(policy)) {
            await policy.validateStack(args as StackValidationArgs, (message, urn) => violations.push(urn ? { message, urn } : { message }));
        } else {
            const resourceArgs = args as ResourceValidationArgs;
            for (const validate of policy.validateResource === undefined ? [] : [policy.validateResource].flat()) {
                await validate(resourceArgs, (message) => violations.push({ message, urn: resourceArgs.urn }));
            }
        }
    } catch (e) {
        if (e instanceof NotApplicable) return { violations, notApplicable: e.reason ?? "" };
        throw e;
    }
    return { violations };
}

// ---------------------------------------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------------------------------------

export interface EvaluateOptions {
    /** Policies to run. @default mlLambdaPolicies */
    policies?: AnyPolicy[];
    stackTags?: ReadonlyMap<string, string>;
}

/**
 * Evaluates every policy against the resources: resource policies per resource (inputs), stack policies once
 * over the whole set. Throws PolicyConfigError on a bad config and an Error naming the policy and resource if a
 * policy itself throws.
 */
export async function evaluatePolicies(resources: PlanResource[], config?: PolicyPackConfig | Record<string, Record<string, unknown>>, opts: EvaluateOptions = {}): Promise<PolicyVerdict[]> {
    const policies = opts.policies ?? mlLambdaPolicies;
    const normalized = validatePolicyConfig(config, policies);
    const stackTags = opts.stackTags ?? emptyTags;
    const verdicts: PolicyVerdict[] = [];
    let stack: PolicyResource[] | undefined;

    for (const p of policies) {
        const own = normalized.get(p.name);
        let level: EnforcementLevel = own?.level ?? normalized.get("all")?.level ?? p.enforcementLevel ?? "advisory";
        if (level === "remediate") level = "mandatory";
        const kind = isStackPolicy(p) ? "stack" : "resource";
        const verdict: PolicyVerdict = { name: p.name, description: p.description, enforcementLevel: level, kind, violations: [], checked: 0 };
        verdicts.push(verdict);
        if (level === "disabled") continue;
        const cfg = { ...schemaDefaults(p.configSchema), ...(own?.props ?? {}) };
        const getConfig = <T extends object>() => ({ ...cfg }) as T;
        const na: string[] = [];
        const run = async (args: ResourceValidationArgs | StackValidationArgs, where: string): Promise<boolean> => {
            try {
                const o = await runValidation(p, args);
                verdict.violations.push(...o.violations.map((v) => (v.urn ? { message: v.message, resource: v.urn } : { message: v.message })));
                if (o.notApplicable !== undefined) na.push(`${where}${o.notApplicable || "not applicable"}`);
                return o.notApplicable === undefined;
            } catch (e) {
                if (e instanceof UnknownValueError) na.push(`${where}can't run during preview: ${(e as Error).message}`);
                else throw new Error(`policy ${p.name} failed${where ? ` on ${where.replace(/: $/, "")}` : ""}: ${(e as Error)?.stack ?? e}`);
                return false;
            }
        };

        if (isStackPolicy(p)) {
            const token = pulumiTypeOf(p.validateStack);
            if (token && !resources.some((r) => r.type === token)) {
                na.push(`Policy only applies to resources of type '${token}'`);
            } else {
                stack ??= stackResources(resources);
                if (await run(stackValidationArgs(stack, getConfig, stackTags), "")) verdict.checked = 1;
            }
        } else {
            const validations: ResourceValidation[] = p.validateResource === undefined ? [] : [p.validateResource].flat();
            const token = validations.length === 1 ? pulumiTypeOf(validations[0]) : undefined;
            let matched = 0;
            for (const r of resources) {
                if (token && r.type !== token) continue;
                matched++;
                if (await run(resourceValidationArgs(r, getConfig, stackTags), `${keyOf(r)}: `)) verdict.checked++;
            }
            if (token && matched === 0) na.push(`Policy only applies to resources of type '${token}'`);
        }
        if (na.length) verdict.notApplicable = na;
    }
    return verdicts;
}

/** Mandatory violations across verdicts (what makes a plan or a preview fail). */
export function mandatoryViolations(verdicts: PolicyVerdict[]): Array<PolicyViolationReport & { policy: string }> {
    return verdicts
        .filter((v) => v.enforcementLevel === "mandatory")
        .flatMap((v) => v.violations.map((x) => ({ policy: v.name, ...x })));
}
