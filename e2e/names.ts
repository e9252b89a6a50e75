/**
 * The stand-in provider's names against @pulumi/aws's: for each token it maps, the input property names it serves
 * (`pulumi-resource-aws -dump-names`) and the `<Class>Args` interface in node_modules/@pulumi/aws/<module>.d.ts.
 * A mapping mistake (a token, a rename, a pluralisation) shows here by name instead of as a late engine diff.
 */
import * as fs from "fs";
import * as path from "path";

/** Names in the program's SDK that our provider does not serve, or serves in addition, each with its reason. */
export const KNOWN_NAME_DIFFERENCES: Record<string, { missing?: string[]; extra?: string[]; why: string }> = {
    "*": { extra: ["tagsAll"], why: "pulumi-aws serves Terraform's tags_all as an output only; the bare bridge also accepts it as an input (the program never sets it)" },
    "aws:cloudwatch/metricAlarm:MetricAlarm": { missing: ["warmUpConfiguration"], why: "added upstream after the terraform-provider-aws version bridged here (the program does not use it)" },
    "aws:lambda/function:Function": { missing: ["useResourceTimeoutForPropagation"], why: "added upstream after the terraform-provider-aws version bridged here (the program does not use it)" },
};

/** Property names of `export interface <Class>Args` in @pulumi/aws's .d.ts for a token like aws:s3/bucket:Bucket. */
export function sdkInputNames(awsSdkDir: string, token: string): string[] {
    const [, mod, cls] = token.split(":");
    const src = fs.readFileSync(path.join(awsSdkDir, `${mod}.d.ts`), "utf8");
    const m = new RegExp(`export interface ${cls}Args \\{([\\s\\S]*?)\\n\\}`).exec(src);
    if (!m) throw new Error(`no ${cls}Args in ${mod}.d.ts`);
    return [...m[1].matchAll(/^ {4}(\w+)\??:/gm)].map((x) => x[1]).sort();
}

/** Differences beyond KNOWN_NAME_DIFFERENCES, one readable line each. */
export function compareNames(served: Record<string, { inputs: string[] }>, awsSdkDir: string): string[] {
    const problems: string[] = [];
    for (const [token, { inputs }] of Object.entries(served)) {
        const sdk = sdkInputNames(awsSdkDir, token);
        const known = KNOWN_NAME_DIFFERENCES[token] ?? { why: "" };
        const anyKnown = KNOWN_NAME_DIFFERENCES["*"];
        const missing = sdk.filter((n) => !inputs.includes(n) && !(known.missing ?? []).includes(n));
        const extra = inputs.filter((n) => !sdk.includes(n) && !(anyKnown.extra ?? []).includes(n) && !(known.extra ?? []).includes(n));
        if (missing.length) problems.push(`${token}: @pulumi/aws has ${missing.join(", ")}, the provider does not`);
        if (extra.length) problems.push(`${token}: the provider serves ${extra.join(", ")}, @pulumi/aws does not`);
        for (const n of known.missing ?? []) if (inputs.includes(n)) problems.push(`${token}: ${n} is served now: drop it from KNOWN_NAME_DIFFERENCES`);
    }
    return problems;
}
