/**
 * A mistake the user can fix. The message always names the setting, the value given, the limit and the fix,
 * so it reads well in `pulumi preview` output without a stack trace.
 */
export class MlLambdaError extends Error {
    readonly setting: string;
    readonly value: unknown;
    readonly limit: string;
    readonly fix: string;

    constructor(setting: string, value: unknown, limit: string, fix: string) {
        super(`Invalid "${setting}" = ${describe(value)}: ${limit}. Fix: ${fix}`);
        this.name = "MlLambdaError";
        this.setting = setting;
        this.value = value;
        this.limit = limit;
        this.fix = fix;
    }
}

function describe(value: unknown): string {
    if (value === undefined) return "(not set)";
    try {
        return JSON.stringify(value);
    } catch {
        return String(value);
    }
}
