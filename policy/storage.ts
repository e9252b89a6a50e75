/**
 * The model bucket (aws v7: the bucket and each of its settings are separate resources): encryption, versioning,
 * public access, TLS only.
 */
import * as aws from "@pulumi/aws";
import { PolicyResource, ReportViolation, StackValidationArgs } from "@pulumi/policy";
import { Unknowns } from "./common";
import { stackPolicy, WithExclude } from "./factory";
import { bucketFromArn, knownStrings, label, list, namePrefixHeuristic, parseDocument, peek, resolveRef, Statement } from "./relate";

const isBucket = (r: PolicyResource) => r.isType(aws.s3.Bucket) || r.isType(aws.s3.BucketV2);
const bucketKeys = (b: PolicyResource) => {
    const keys = knownStrings(b, ["id", "bucket", "arn"]);
    return [...keys, ...keys.map((k) => bucketFromArn(k)).filter((k): k is string => !!k)];
};

/**
 * The bucket-setting resources of each bucket, and the settings whose bucket cannot be told before apply. A
 * setting whose bucket reference is known to point outside the stack is ignored.
 */
function settingsOf(args: StackValidationArgs, buckets: PolicyResource[], isSetting: (r: PolicyResource) => boolean) {
    const map = new Map<PolicyResource, PolicyResource[]>(buckets.map((b) => [b, []]));
    const unresolved: string[] = [];
    for (const r of args.resources.filter(isSetting)) {
        const ref = resolveRef(r, "bucket", buckets, { keys: bucketKeys, heuristic: namePrefixHeuristic });
        if (ref.kind === "resolved") map.get(ref.target)?.push(r);
        else if (ref.kind === "unknown") unresolved.push(`which bucket ${label(r)} applies to (${ref.path})`);
    }
    return { of: (b: PolicyResource) => map.get(b) ?? [], unresolved };
}

function bucketsOrSkip(args: StackValidationArgs, cfg: WithExclude): PolicyResource[] {
    const buckets = args.resources.filter(isBucket);
    if (buckets.length === 0) args.notApplicable("no S3 buckets in the stack (an existing modelBucket is managed elsewhere)");
    return buckets.filter((b) => !cfg.exclude.includes(b.name));
}

/**
 * Runs one check per bucket. A failing bucket whose answer depended on unknown values is reported as undecided
 * (not a violation); a passing bucket ignores unknowns that did not matter.
 */
function perBucket(
    args: StackValidationArgs,
    report: ReportViolation,
    buckets: PolicyResource[],
    unresolved: string[],
    check: (b: PolicyResource, unknown: (what: string) => void) => string | undefined,
): void {
    const unknowns = new Unknowns(report);
    for (const b of buckets) {
        const local: string[] = [];
        const problem = check(b, (what) => local.push(what));
        if (problem === undefined) continue;
        if (local.length > 0 || unresolved.length > 0) unknowns.add(...local, ...unresolved);
        else unknowns.violation(problem, b.urn);
    }
    unknowns.finish(args);
}

interface EncryptionConfig extends WithExclude {
    requireKms: boolean;
}
export const modelBucketEncrypted = stackPolicy({
    name: "model-bucket-encrypted",
    description: "Checks whether each S3 bucket has an explicit default server-side encryption configuration (a BucketServerSideEncryptionConfiguration for it).",
    enforcementLevel: "mandatory",
    config: {
        requireKms: { type: "boolean", default: false, description: "Require SSE-KMS (aws:kms or aws:kms:dsse) instead of accepting SSE-S3 (AES256)." },
    },
    validate: (args, report, cfg: EncryptionConfig) => {
        const buckets = bucketsOrSkip(args, cfg);
        const sse = settingsOf(args, buckets, (r) => r.isType(aws.s3.BucketServerSideEncryptionConfiguration) || r.isType(aws.s3.BucketServerSideEncryptionConfigurationV2));
        const accepted = cfg.requireKms ? ["aws:kms", "aws:kms:dsse"] : ["AES256", "aws:kms", "aws:kms:dsse"];
        perBucket(args, report, buckets, sse.unresolved, (b, unknown) => {
            const algorithms: string[] = [];
            const inline = peek<string>(b.props, "serverSideEncryptionConfiguration", "rule", "applyServerSideEncryptionByDefault", "sseAlgorithm");
            if (!inline.known) unknown(`${label(b)}.serverSideEncryptionConfiguration`);
            else if (inline.value) algorithms.push(inline.value);
            for (const s of sse.of(b)) {
                const rules = peek<Array<{ applyServerSideEncryptionByDefault?: { sseAlgorithm?: string } }>>(s.props, "rules");
                if (!rules.known) unknown(`${label(s)}.rules`);
                else for (const rule of rules.value ?? []) {
                    const alg = rule?.applyServerSideEncryptionByDefault?.sseAlgorithm;
                    if (alg) algorithms.push(alg);
                }
            }
            if (algorithms.some((a) => accepted.includes(a))) return undefined;
            const found = algorithms.length ? `found ${algorithms.join(", ")}` : "none found";
            return `${label(b)} has no default encryption with ${accepted.join(" / ")} (${found}). Add an aws.s3.BucketServerSideEncryptionConfiguration for it.`;
        });
    },
});

export const modelBucketVersioned = stackPolicy({
    name: "model-bucket-versioned",
    description: "Checks whether each S3 bucket has versioning Enabled (a BucketVersioning for it), so a model archive cannot be silently overwritten or lost.",
    enforcementLevel: "mandatory",
    validate: (args, report, cfg: WithExclude) => {
        const buckets = bucketsOrSkip(args, cfg);
        const versioning = settingsOf(args, buckets, (r) => r.isType(aws.s3.BucketVersioning) || r.isType(aws.s3.BucketVersioningV2));
        perBucket(args, report, buckets, versioning.unresolved, (b, unknown) => {
            const inline = peek<boolean>(b.props, "versioning", "enabled");
            if (!inline.known) unknown(`${label(b)}.versioning`);
            else if (inline.value === true) return undefined;
            const states: string[] = [];
            for (const v of versioning.of(b)) {
                const status = peek<string>(v.props, "versioningConfiguration", "status");
                if (!status.known) unknown(`${label(v)}.versioningConfiguration.status`);
                else if (status.value === "Enabled") return undefined;
                else states.push(String(status.value));
            }
            return `${label(b)} is not versioned${states.length ? ` (status ${states.join(", ")})` : ""}. Add an aws.s3.BucketVersioning with versioningConfiguration.status "Enabled".`;
        });
    },
});

const PAB_FLAGS = ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"] as const;

/** Which of the four public access block flags are not true (and which cannot be read yet). */
function flagsOff(r: PolicyResource): { off: string[]; unknown: string[] } {
    const off: string[] = [];
    const unknown: string[] = [];
    for (const f of PAB_FLAGS) {
        const v = peek<boolean>(r.props, f);
        if (!v.known) unknown.push(`${label(r)}.${f}`);
        else if (v.value !== true) off.push(f);
    }
    return { off, unknown };
}

interface PublicAccessConfig extends WithExclude {
    acceptAccountLevelBlock: boolean;
}
export const modelBucketPublicAccessBlocked = stackPolicy({
    name: "model-bucket-public-access-blocked",
    description: "Checks whether each S3 bucket has public access fully blocked: a BucketPublicAccessBlock with all four flags true, and no public canned ACL.",
    enforcementLevel: "mandatory",
    config: {
        acceptAccountLevelBlock: { type: "boolean", default: true, description: "Accept an AccountPublicAccessBlock in the same stack with all four flags on." },
    },
    validate: (args, report, cfg: PublicAccessConfig) => {
        const buckets = bucketsOrSkip(args, cfg);
        const blocks = settingsOf(args, buckets, (r) => r.isType(aws.s3.BucketPublicAccessBlock));
        const accountBlocked = cfg.acceptAccountLevelBlock && args.resources
            .filter((r) => r.isType(aws.s3.AccountPublicAccessBlock))
            .some((r) => {
                const f = flagsOff(r);
                return f.off.length === 0 && f.unknown.length === 0;
            });
        perBucket(args, report, buckets, blocks.unresolved, (b, unknown) => {
            const acl = peek<string>(b.props, "acl");
            if (!acl.known) unknown(`${label(b)}.acl`);
            else if (["public-read", "public-read-write", "authenticated-read"].includes(String(acl.value))) {
                return `${label(b)} has the canned ACL "${acl.value}". Remove acl (BucketOwnerEnforced ownership disables ACLs).`;
            }
            if (accountBlocked) return undefined;
            const mine = blocks.of(b);
            if (mine.length === 0) {
                return `${label(b)} has no public access block. Add an aws.s3.BucketPublicAccessBlock with ${PAB_FLAGS.join(", ")} all true.`;
            }
            const results = mine.map(flagsOff);
            if (results.some((r) => r.off.length === 0 && r.unknown.length === 0)) return undefined;
            for (const r of results) r.unknown.forEach(unknown);
            return `${label(b)}'s public access block is not complete: ${[...new Set(results.flatMap((r) => r.off))].join(", ")} must be true.`;
        });
    },
});

/** Whether a statement list denies every non-TLS request to the bucket's objects. */
export function deniesInsecureTransport(statements: Statement[]): boolean {
    return statements.some((s) => {
        if (s.Effect !== "Deny") return false;
        const p = s.Principal as any;
        const everyone = p === "*" || (p && typeof p === "object" && list(p.AWS).includes("*"));
        const allActions = list(s.Action).some((a) => a === "*" || a.toLowerCase() === "s3:*");
        const objects = list(s.Resource).some((r) => r === "*" || r.endsWith("/*"));
        const cond = s.Condition?.Bool?.["aws:SecureTransport"];
        const insecure = cond === false || cond === "false" || (Array.isArray(cond) && cond.map(String).includes("false"));
        return everyone && allActions && objects && insecure;
    });
}

export const modelBucketTlsOnly = stackPolicy({
    name: "model-bucket-tls-only",
    description: "Checks whether each S3 bucket's policy denies every request not made over TLS (Deny s3:* on its objects when aws:SecureTransport is false).",
    enforcementLevel: "mandatory",
    validate: (args, report, cfg: WithExclude) => {
        const buckets = bucketsOrSkip(args, cfg);
        const policies = settingsOf(args, buckets, (r) => r.isType(aws.s3.BucketPolicy));
        perBucket(args, report, buckets, policies.unresolved, (b, unknown) => {
            const docs: unknown[] = [];
            const inline = peek(b.props, "policy");
            if (!inline.known) unknown(`${label(b)}.policy`);
            else if (inline.value) docs.push(inline.value);
            for (const p of policies.of(b)) {
                const doc = peek(p.props, "policy");
                if (!doc.known) unknown(`${label(p)}.policy`);
                else docs.push(doc.value);
            }
            const ok = docs.some((d) => {
                const parsed = parseDocument(d);
                return parsed.ok && deniesInsecureTransport(parsed.statements);
            });
            if (ok) return undefined;
            return `${label(b)} accepts plain-HTTP requests: add an aws.s3.BucketPolicy with a Deny of s3:* on the bucket and its objects when "aws:SecureTransport" is "false".`;
        });
    },
});
