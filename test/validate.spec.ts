import * as assert from "assert";
import * as path from "path";
import { MlLambdaArgs } from "../components/args";
import { MlLambdaError } from "../components/errors";
import { parseStackConfig } from "../config";
import { defaultFunctionName, normalizeArgs } from "../components/validate";

const FIX = path.join(__dirname, "fixtures", "component");
const ctx = { project: "ml-lambda", stack: "test" };

export function goodArgs(): MlLambdaArgs {
    return {
        handlerDir: path.join(FIX, "handler"),
        requirements: path.join(FIX, "requirements.txt"),
        dockerfile: path.join(FIX, "Dockerfile"),
        model: { path: path.join(FIX, "tiny-model"), name: "tiny" },
        packaging: "zip",
    };
}

function expectError(fn: () => unknown, setting: string): MlLambdaError {
    try {
        fn();
    } catch (e) {
        assert.ok(e instanceof MlLambdaError, `expected MlLambdaError, got ${e}`);
        assert.ok(e.message.includes(setting), `message should name "${setting}": ${e.message}`);
        assert.ok(e.message.includes("Fix:"), `message should say how to fix: ${e.message}`);
        return e;
    }
    assert.fail(`expected an error naming ${setting}`);
}

describe("normalizeArgs", () => {
    it("applies documented defaults", () => {
        const n = normalizeArgs("embed", goodArgs(), ctx);
        assert.strictEqual(n.runtime, "python3.12");
        assert.strictEqual(n.architecture, "x86_64");
        assert.strictEqual(n.memorySize, 1769);
        assert.strictEqual(n.timeout, 60);
        assert.strictEqual(n.ephemeralStorage, 512);
        assert.strictEqual(n.logRetentionDays, 14);
        assert.strictEqual(n.handler, "app.handler.lambda_handler");
        assert.deepStrictEqual(n.provisioned, { kind: "none" });
        assert.strictEqual(n.functionName, "ml-lambda-test-embed");
        assert.deepStrictEqual(n.warnings, []);
    });

    it("warns (without failing) on python3.11, naming its deprecation date", () => {
        const n = normalizeArgs("embed", { ...goodArgs(), runtime: "python3.11" }, ctx);
        assert.match(n.warnings.join("\n"), /python3\.11.*2027-06-30/);
    });

    it("keeps function names within 64 characters, unique by hash", () => {
        const a = defaultFunctionName("p".repeat(40), "stack", "a".repeat(30));
        const b = defaultFunctionName("p".repeat(40), "stack", "a".repeat(29) + "b");
        assert.ok(a.length <= 64 && b.length <= 64);
        assert.notStrictEqual(a, b);
    });

    it("accepts the legal extremes", () => {
        const n = normalizeArgs("embed", {
            ...goodArgs(), memorySize: 10240, timeout: 900, ephemeralStorage: 10240, reservedConcurrency: 900,
            provisionedConcurrency: { min: 1, max: 900, targetUtilization: 0.9 },
        }, ctx);
        assert.deepStrictEqual(n.provisioned, { kind: "autoscaling", min: 1, max: 900, targetUtilization: 0.9 });
    });
});

const layer = (i: number) => ({ arn: `arn:aws:lambda:us-east-1:123456789012:layer:l${i}:1`, unzippedBytes: 10 });

/** Each row changes one thing from goodArgs() and names the setting the error must mention. */
const BAD_ARGS: Array<[string, Partial<MlLambdaArgs> | Record<string, unknown>, string]> = [
    ["memory below 128", { memorySize: 127 }, "memorySize"],
    ["memory above 10240", { memorySize: 10241 }, "memorySize"],
    ["memory not whole", { memorySize: 1769.5 }, "memorySize"],
    ["timeout above 900", { timeout: 901 }, "timeout"],
    ["timeout zero", { timeout: 0 }, "timeout"],
    ["ephemeral below 512", { ephemeralStorage: 511 }, "ephemeralStorage"],
    ["ephemeral above 10240", { ephemeralStorage: 10241 }, "ephemeralStorage"],
    ["SnapStart on python3.11", { snapStart: true, runtime: "python3.11" }, "snapStart"],
    ["SnapStart with provisioned concurrency", { snapStart: true, provisionedConcurrency: 2 }, "snapStart"],
    ["SnapStart with ephemeral > 512", { snapStart: true, ephemeralStorage: 1024 }, "snapStart"],
    ["provisioned above reserved", { reservedConcurrency: 5, provisionedConcurrency: 6 }, "provisionedConcurrency"],
    ["autoscaling max above reserved", { reservedConcurrency: 5, provisionedConcurrency: { min: 1, max: 6, targetUtilization: 0.7 } }, "provisionedConcurrency.max"],
    ["autoscaling min zero", { provisionedConcurrency: { min: 0, max: 6, targetUtilization: 0.7 } }, "provisionedConcurrency.min"],
    ["autoscaling max below min", { provisionedConcurrency: { min: 4, max: 3, targetUtilization: 0.7 } }, "provisionedConcurrency.max"],
    ["autoscaling target out of range", { provisionedConcurrency: { min: 1, max: 3, targetUtilization: 70 } }, "provisionedConcurrency.targetUtilization"],
    ["autoscaling unknown field", { provisionedConcurrency: { min: 1, max: 3, targetUtilization: 0.7, maxx: 4 } }, "provisionedConcurrency.maxx"],
    ["provisioned negative", { provisionedConcurrency: -1 }, "provisionedConcurrency"],
    ["reserved above 900", { reservedConcurrency: 901 }, "reservedConcurrency"],
    ["reserved negative", { reservedConcurrency: -2 }, "reservedConcurrency"],
    ["six layers in all", { layers: [1, 2, 3, 4, 5].map(layer) }, "layers"],
    ["layer without size", { layers: [{ arn: layer(1).arn }] }, "layers[0].unzippedBytes"],
    ["layer with a bad ARN", { layers: [{ arn: "my-layer", unzippedBytes: 1 }] }, "layers[0].arn"],
    ["unknown architecture", { architecture: "amd64" }, "architecture"],
    ["unknown runtime", { runtime: "python3.8x" }, "runtime"],
    ["deprecated python3.10", { runtime: "python3.10" }, "runtime"],
    ["deprecated python3.9", { runtime: "python3.9" }, "runtime"],
    ["log retention not allowed", { logRetentionDays: 10 }, "logRetentionDays"],
    ["model neither path nor id", { model: { name: "x" } }, "model.id"],
    ["model with both path and id", { model: { path: FIX, id: "a/b", revision: "0".repeat(40) } }, "model"],
    ["model revision is a branch", { model: { id: "sentence-transformers/all-MiniLM-L6-v2", revision: "main" } }, "model.revision"],
    ["model path missing", { model: { path: "/nonexistent/model" } }, "model.path"],
    ["handlerDir missing", { handlerDir: "/nonexistent/src" }, "handlerDir"],
    ["requirements missing", { requirements: "/nonexistent/requirements.txt" }, "requirements"],
    ["dockerfile missing", { dockerfile: "/nonexistent/Dockerfile" }, "dockerfile"],
    ["handler module absent", { handler: "nothere.handler.main" }, "handler"],
    ["handler without function", { handler: "app" }, "handler"],
    ["unknown packaging", { packaging: "layer" }, "packaging"],
    ["unknown backend", { backend: "tensorflow" }, "backend"],
    ["environment overrides MODEL_KEY", { environment: { MODEL_KEY: "x" } }, "environment.MODEL_KEY"],
    ["environment AWS_ prefix", { environment: { AWS_REGION: "x" } }, "environment.AWS_REGION"],
    ["environment over 4 KB", { environment: { BIG: "x".repeat(5000) } }, "environment"],
    ["forceDestroy with retainData", { forceDestroy: true, retainData: true }, "forceDestroy"],
    ["bucket given as ARN", { modelBucket: "arn:aws:s3:::models" }, "modelBucket"],
    ["headroom at the limit", { headroomBytes: 262_144_000 }, "headroomBytes"],
    ["function name too long", { functionName: "f".repeat(65) }, "functionName"],
    ["no images kept", { imageRetentionCount: 0 }, "imageRetentionCount"],
];

describe("validation table: every mistake names its setting", () => {
    it(`has at least 25 rows (has ${BAD_ARGS.length})`, () => assert.ok(BAD_ARGS.length >= 25));
    for (const [what, change, setting] of BAD_ARGS) {
        it(`${what} → ${setting}`, () => {
            expectError(() => normalizeArgs("embed", { ...goodArgs(), ...change } as MlLambdaArgs, ctx), setting);
        });
    }
});

/** Stack-config mistakes: the setting is named with its namespace, as the user wrote it. */
const BAD_CONFIG: Array<[string, Record<string, unknown>, string]> = [
    ["memorySize not a number", { memorySize: "lots" }, "ml-lambda:memorySize"],
    ["snapStart not a boolean", { snapStart: "yes" }, "ml-lambda:snapStart"],
    ["provisionedConcurrency bad JSON", { provisionedConcurrency: '{"min": 2,' }, "ml-lambda:provisionedConcurrency"],
    ["provisionedConcurrency words", { provisionedConcurrency: "some" }, "ml-lambda:provisionedConcurrency"],
    ["misspelt key", { memmorySize: 3008 }, "ml-lambda:memmorySize"],
    ["case-misspelt key suggests the right one", { MemorySize: 3008 }, "memorySize"],
];

describe("stack config parsing", () => {
    for (const [what, raw, setting] of BAD_CONFIG) {
        it(`${what} → ${setting}`, () => expectError(() => parseStackConfig(raw, FIX), setting));
    }

    it("maps sentinels to unset and parses the JSON object form", () => {
        const s = parseStackConfig({ reservedConcurrency: "-1", provisionedConcurrency: '{"min":2,"max":20,"targetUtilization":0.7}', modelPath: "" }, FIX);
        assert.strictEqual(s.args.reservedConcurrency, undefined);
        assert.deepStrictEqual(s.args.provisionedConcurrency, { min: 2, max: 20, targetUtilization: 0.7 });
        assert.ok("id" in (s.args.model as object));
    });

    it("resolves relative paths from the project directory", () => {
        const s = parseStackConfig({ modelPath: "tiny-model", requirements: "requirements.txt" }, FIX);
        assert.deepStrictEqual(s.args.model, { path: path.join(FIX, "tiny-model") });
        assert.strictEqual(s.args.requirements, path.join(FIX, "requirements.txt"));
    });

    it("passes config values to the validators (a bad value from config fails there, named)", () => {
        const s = parseStackConfig({ memorySize: "20000" }, FIX);
        expectError(() => normalizeArgs("embed", { ...goodArgs(), ...s.args, model: goodArgs().model }, ctx), "memorySize");
    });
});
