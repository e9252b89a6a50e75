/**
 * The scaffolding every policy of the pack shares, written once: a policy is declared with its name, description,
 * level, its own config properties and a validate function; the factory adds the `exclude` property (resource
 * logical names the policy skips: the escape hatch for a resource that is deliberately different), applies the
 * config schema's defaults, and, for resource policies, skips excluded resources before validate runs.
 * Stack policies receive the config with its defaults and honour `cfg.exclude` for the resources they judge.
 */
import type { Unwrap } from "@pulumi/pulumi";
import {
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
    validateResourceOfType,
} from "@pulumi/policy";

/** One property of a policy's config schema (JSON schema, with a default). */
type ConfigProperty = PolicyConfigSchema["properties"][string];

/** The config every policy has. */
export interface WithExclude {
    exclude: string[];
}

const EXCLUDE: Record<string, ConfigProperty> = {
    exclude: {
        type: "array",
        items: { type: "string" },
        default: [],
        description: "Logical names of resources this policy skips (a deliberate exception).",
    },
};

/**
 * The policy's config with schema defaults applied. The Pulumi CLI and policy/evaluate.ts both fill defaults
 * already; applying them here as well keeps a policy correct when called with hand-built args.
 */
export function configWithDefaults<T>(schema: PolicyConfigSchema, args: { getConfig<U extends object>(): U }): T {
    return { ...schemaDefaults(schema), ...args.getConfig<Record<string, unknown>>() } as T;
}

/** Each config property's default, by name. */
export function schemaDefaults(schema?: PolicyConfigSchema): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [k, s] of Object.entries(schema?.properties ?? {})) {
        if (typeof s === "object" && s.default !== undefined) out[k] = s.default;
    }
    return out;
}

interface PolicyHead {
    /** kebab-case, unique in the pack. */
    name: string;
    /** Starts with "Checks whether". */
    description: string;
    enforcementLevel: EnforcementLevel;
    /** The policy's own config properties, each with a default (`exclude` is added). */
    config?: Record<string, ConfigProperty>;
}

function policyHead(def: PolicyHead) {
    const configSchema: PolicyConfigSchema = { properties: { ...def.config, ...EXCLUDE } };
    return { name: def.name, description: def.description, enforcementLevel: def.enforcementLevel, configSchema };
}

/** A resource policy on one resource type; `validate` sees the resource's typed inputs and the config (defaults applied). */
export function resourcePolicy<TArgs, C extends WithExclude = WithExclude>(def: PolicyHead & {
    resource: { new (name: string, args: TArgs, ...rest: any[]): unknown };
    validate: (props: Unwrap<NonNullable<TArgs>>, args: ResourceValidationArgs, report: ReportViolation, cfg: C) => void;
}): ResourceValidationPolicy {
    const { configSchema, ...head } = policyHead(def);
    return {
        ...head,
        configSchema,
        validateResource: validateResourceOfType(def.resource as { new (name: string, args: TArgs, ...rest: any[]): any }, (props, args, report) => {
            const cfg = configWithDefaults<C>(configSchema, args);
            if (cfg.exclude.includes(args.name)) args.notApplicable(`"${args.name}" is excluded by the policy config`);
            def.validate(props as Unwrap<NonNullable<TArgs>>, args, report, cfg);
        }),
    };
}

/** A stack policy; `validate` gets the config with its defaults (and must skip resources named in `cfg.exclude`). */
export function stackPolicy<C extends WithExclude = WithExclude>(def: PolicyHead & {
    validate: (args: StackValidationArgs, report: ReportViolation, cfg: C) => void;
}): StackValidationPolicy {
    const { configSchema, ...head } = policyHead(def);
    return {
        ...head,
        configSchema,
        validateStack: (args, report) => def.validate(args, report, configWithDefaults<C>(configSchema, args)),
    };
}
