/**
 * Helpers the stack policies use to relate resources to each other, and to read values that may be unknown.
 *
 * Where values come from:
 *  - a real `pulumi preview` hands stack policies each resource's *outputs*; on a first preview anything computed
 *    by AWS (a bucket's id, a role's arn, a policy document built from an arn) is unknown, and reading it through
 *    @pulumi/policy's proxy throws UnknownValueError. The engine also hands `propertyDependencies`: which
 *    resources each input property was built from. That is known even when the value is not.
 *  - the offline plan (mock engine) and `pulumi up` give resolved values; the offline plan may give only inputs
 *    (no ids) and no dependencies.
 *
 * So a reference such as `BucketVersioning.bucket` is resolved in this order:
 *   1. propertyDependencies (exact, works in preview),
 *   2. the known value equals one of the candidate's identifying values (id, name, arn...),
 *   3. optionally, a naming heuristic given by the caller (only when 1 and 2 found nothing).
 * Values that cannot be read are reported as unknown, never guessed.
 */
import { PolicyResource, UnknownValueError } from "@pulumi/policy";

export type Peek<T = unknown> = { known: true; value: T } | { known: false; path: string };

/** Reads obj[...path] without throwing on values that are unknown during preview. */
export function peek<T = unknown>(obj: unknown, ...path: Array<string | number>): Peek<T> {
    let cur: any = obj;
    try {
        for (const key of path) {
            if (cur === undefined || cur === null) return { known: true, value: undefined as T };
            cur = cur[key];
        }
        // Touch nested values so an unknown anywhere inside (e.g. one element of an array) is detected now.
        touch(cur);
        return { known: true, value: cur as T };
    } catch (e) {
        if (e instanceof UnknownValueError) return { known: false, path: path.join(".") };
        throw e;
    }
}

function touch(v: unknown, depth = 0): void {
    if (depth > 8 || v === null || typeof v !== "object") return;
    if (Array.isArray(v)) for (let i = 0; i < v.length; i++) touch(v[i], depth + 1);
    else for (const k of Object.keys(v)) touch((v as Record<string, unknown>)[k], depth + 1);
}

/** A readable identifier for messages and verdicts. */
export function label(r: { type: string; name: string }): string {
    return `${r.type.split(":").pop()} "${r.name}"`;
}

/** Known string values of `props` at the given keys. */
export function knownStrings(r: PolicyResource, keys: string[]): string[] {
    const out: string[] = [];
    for (const k of keys) {
        const v = peek(r.props, k);
        if (v.known && typeof v.value === "string" && v.value !== "") out.push(v.value);
    }
    return out;
}

export type Resolution =
    | { kind: "resolved"; target: PolicyResource; how: "dependency" | "value" | "heuristic" }
    | { kind: "unknown"; path: string }
    /** The reference is known but points at nothing in this stack (an external resource), or is absent. */
    | { kind: "external"; value?: unknown };

export interface ResolveOptions {
    /** Maps the referring value to the strings it is compared with (e.g. "function:NAME:alias" -> NAME). */
    normalize?: (value: string) => string[];
    /** Identifying values of a candidate. */
    keys: (candidate: PolicyResource) => string[];
    /** Last resort when neither dependencies nor values decide. */
    heuristic?: (from: PolicyResource, candidates: PolicyResource[]) => PolicyResource | undefined;
}

/** Which of `candidates` does `from.props[prop]` refer to? */
export function resolveRef(from: PolicyResource, prop: string, candidates: PolicyResource[], opts: ResolveOptions): Resolution {
    const deps = from.propertyDependencies?.[prop] ?? [];
    const byDep = candidates.find((c) => deps.some((d) => d === c || d.urn === c.urn));
    if (byDep) return { kind: "resolved", target: byDep, how: "dependency" };
    const v = peek(from.props, prop);
    if (v.known && typeof v.value === "string" && v.value !== "") {
        const wanted = opts.normalize ? opts.normalize(v.value) : [v.value];
        const byValue = candidates.find((c) => opts.keys(c).some((k) => wanted.includes(k)));
        if (byValue) return { kind: "resolved", target: byValue, how: "value" };
    }
    // The heuristic only chooses among candidates whose identifying values are not known (offline inputs).
    const guessed = opts.heuristic?.(from, candidates.filter((c) => opts.keys(c).length === 0));
    if (guessed) return { kind: "resolved", target: guessed, how: "heuristic" };
    if (!v.known) return { kind: "unknown", path: `${label(from)}.${v.path}` };
    return { kind: "external", value: v.value };
}

/**
 * Naming heuristic for bucket sub-resources: "models-versioning" belongs to bucket "models" (longest prefix wins).
 * Used only when the offline plan records inputs without ids and without dependencies.
 */
export function namePrefixHeuristic(from: PolicyResource, candidates: PolicyResource[]): PolicyResource | undefined {
    const matches = candidates.filter((c) => from.name.startsWith(`${c.name}-`));
    return matches.sort((a, b) => b.name.length - a.name.length)[0];
}

/** Bucket name from an S3 ARN ("arn:aws:s3:::name" -> "name"). */
export function bucketFromArn(arn: string): string | undefined {
    const m = /^arn:aws[a-zA-Z-]*:s3:::([^/]+)$/.exec(arn);
    return m?.[1];
}

// ---------------------------------------------------------------------------------------------------------
// IAM policy documents
// ---------------------------------------------------------------------------------------------------------

export interface Statement {
    Sid?: string;
    Effect?: string;
    Action?: string | string[];
    NotAction?: string | string[];
    Resource?: string | string[];
    NotResource?: string | string[];
    Principal?: unknown;
    Condition?: Record<string, Record<string, unknown>>;
}

export type ParsedDocument = { ok: true; statements: Statement[] } | { ok: false; error: string };

/** A policy document given as a JSON string or as an object (both are accepted by @pulumi/aws). */
export function parseDocument(doc: unknown): ParsedDocument {
    let obj: any = doc;
    if (typeof doc === "string") {
        try {
            obj = JSON.parse(doc);
        } catch (e) {
            return { ok: false, error: `not valid JSON (${(e as Error).message})` };
        }
    }
    if (!obj || typeof obj !== "object") return { ok: false, error: "not a policy document" };
    const st = obj.Statement ?? obj.statement ?? obj.statements;
    if (st === undefined) return { ok: false, error: "no Statement" };
    return { ok: true, statements: (Array.isArray(st) ? st : [st]) as Statement[] };
}

export const list = (v: unknown): string[] => (v === undefined || v === null ? [] : Array.isArray(v) ? v.map(String) : [String(v)]);

/** Whether an IAM action pattern (possibly with wildcards) matches `action` (case-insensitive, like IAM). */
export function actionMatches(pattern: string, action: string): boolean {
    const re = new RegExp(`^${pattern.split("*").map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`, "i");
    return re.test(action);
}

/** Actions that read object content from S3. */
export const S3_OBJECT_READ_ACTIONS = ["s3:GetObject", "s3:GetObjectVersion"];

/** True when an S3 resource ARN covers every object of a bucket, or of every bucket. */
export function isBucketWideResource(resource: string): boolean {
    if (resource === "*") return true;
    const m = /^arn:aws[a-zA-Z-]*:s3:::(.*)$/.exec(resource);
    if (!m) return false;
    const rest = m[1];
    const slash = rest.indexOf("/");
    if (slash < 0) return rest.includes("*"); // arn:aws:s3:::* or arn:aws:s3:::bucket-*
    const bucket = rest.slice(0, slash);
    const key = rest.slice(slash + 1);
    return bucket.includes("*") || key.startsWith("*");
}

/** Whether a role trust policy lets Lambda assume the role. */
export function trustsLambda(assumeRolePolicy: unknown): boolean {
    const doc = parseDocument(assumeRolePolicy);
    if (!doc.ok) return false;
    return doc.statements.some((s) => {
        if ((s.Effect ?? "Allow") !== "Allow") return false;
        const p = s.Principal as any;
        const services = p && typeof p === "object" ? list(p.Service) : [];
        return services.some((svc) => svc === "lambda.amazonaws.com" || svc === "edgelambda.amazonaws.com");
    });
}
