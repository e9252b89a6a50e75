import * as assert from "assert";
import * as path from "path";
import { MlLambdaArgs } from "../components/args";
import { MlLambdaError } from "../components/errors";
import { parseStackConfig } from "../config";
import { defaultFunctionName, normalizeArgs, validateUrl } from "../components/validate";
import { fixturePaths } from "./mocks";

const FIX = path.join(__dirname, "fixtures", "component");
const ctx = { project: "ml-lambda", stack: "test" };

export function goodArgs(): MlLambdaArgs {
    return {
        ...fixturePaths(),
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
        assert.strictEqual(n.backend, "onnx");
    });

    it("defaults to the onnx backend and its requirements profile (the zip path), torch on request", () => {
        const { requirements: _r, ...noRequirements } = goodArgs();
        const n = normalizeArgs("embed", noRequirements, ctx);
        assert.strictEqual(n.backend, "onnx");
        assert.match(n.requirements, /python[\/\\]requirements-onnx\.txt$/);
        const t = normalizeArgs("embed", { ...noRequirements, backend: "torch" }, ctx);
        assert.match(t.requirements, /python[\/\\]requirements\.txt$/);
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

    it("provisionedConcurrency { min, max } takes targetUtilization 0.7 (AWS's guide), the bounds 0.1 and 0.9 stay legal", () => {
        const n = normalizeArgs("embed", { ...goodArgs(), provisionedConcurrency: { min: 1, max: 5 } }, ctx);
        assert.deepStrictEqual(n.provisioned, { kind: "autoscaling", min: 1, max: 5, targetUtilization: 0.7 });
        for (const t of [0.1, 0.9]) {
            assert.strictEqual((normalizeArgs("embed", { ...goodArgs(), provisionedConcurrency: { min: 1, max: 5, targetUtilization: t } }, ctx).provisioned as { targetUtilization: number }).targetUtilization, t);
        }
        const e = expectError(() => normalizeArgs("embed", { ...goodArgs(), provisionedConcurrency: { min: 1, max: 5, targetUtilization: 0.95 } }, ctx), "provisionedConcurrency.targetUtilization");
        assert.match(e.message, /0\.95.*from 0\.1 to 0\.9.*leave it out for 0\.7/);
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
    ["autoscaling target below 0.1", { provisionedConcurrency: { min: 1, max: 3, targetUtilization: 0.05 } }, "provisionedConcurrency.targetUtilization"],
    ["autoscaling target not a number", { provisionedConcurrency: { min: 1, max: 3, targetUtilization: "0.7" } }, "provisionedConcurrency.targetUtilization"],
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
        const short = parseStackConfig({ provisionedConcurrency: '{"min": 1, "max": 5}' }, FIX);
        assert.deepStrictEqual(normalizeArgs("embed", { ...goodArgs(), ...short.args, model: goodArgs().model }, ctx).provisioned,
            { kind: "autoscaling", min: 1, max: 5, targetUtilization: 0.7 });
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

describe("the function URL (url): pure validation", () => {
    const good: Array<[string, unknown]> = [
        ["nothing", undefined],
        ["empty object (AWS_IAM, buffered)", {}],
        ["public with CORS", {
            authType: "NONE", invokeMode: "BUFFERED",
            cors: {
                allowOrigins: ["https://app.example.com", "http://localhost:3000", "https://[::1]:8443", "http://10.0.0.7"],
                allowMethods: ["POST", "GET", "*"], allowHeaders: ["content-type", "x-amz-date", "*"], exposeHeaders: ["x-request-id"],
                allowCredentials: true, maxAge: 86_400,
            },
        }],
        ["any origin without credentials", { cors: { allowOrigins: ["*"], allowCredentials: false, maxAge: 0 } }],
    ];
    for (const [what, v] of good) {
        it(`accepts ${what}`, () => {
            const n = validateUrl(v);
            if (v === undefined) return assert.strictEqual(n, undefined);
            assert.strictEqual(n!.authType, (v as any).authType ?? "AWS_IAM");
            assert.strictEqual(n!.invokeMode, "BUFFERED");
            assert.deepStrictEqual(n!.cors, (v as any).cors);
        });
    }

    /** [what, url value, setting named, text the message must contain (the limit or the fix)] */
    const bad: Array<[string, unknown, string, RegExp]> = [
        ["not an object", "NONE", "url", /must be an object/],
        ["unknown field", { auth: "NONE" }, "url.auth", /not a known field/],
        ["authType lower case", { authType: "none" }, "url.authType", /"none": must be one of "AWS_IAM", "NONE"/],
        ["authType made up", { authType: "PUBLIC" }, "url.authType", /"PUBLIC".*Fix: "AWS_IAM" \(the default\)/],
        ["response streaming on Python", { invokeMode: "RESPONSE_STREAM" }, "url.invokeMode", /Node\.js managed runtimes.*Python.*6 MB.*Fix: leave invokeMode out/],
        ["unknown invoke mode", { invokeMode: "STREAM" }, "url.invokeMode", /must be one of "BUFFERED", "RESPONSE_STREAM"/],
        ["cors not an object", { cors: ["*"] }, "url.cors", /must be an object/],
        ["cors unknown field", { cors: { allowOrigin: ["*"] } }, "url.cors.allowOrigin", /not a known field/],
        ["origins not a list", { cors: { allowOrigins: "https://a.example.com" } }, "url.cors.allowOrigins", /list of strings/],
        ["origin without scheme", { cors: { allowOrigins: ["app.example.com"] } }, "url.cors.allowOrigins[0]", /Fix: add the scheme: "https:\/\/app\.example\.com"/],
        ["origin with a trailing slash", { cors: { allowOrigins: ["https://ok.example.com", "https://app.example.com/"] } }, "url.cors.allowOrigins[1]", /no path.*Fix: use "https:\/\/app\.example\.com"/],
        ["origin with a path", { cors: { allowOrigins: ["https://app.example.com/embed"] } }, "url.cors.allowOrigins[0]", /no path, query or trailing slash/],
        ["origin with a wildcard subdomain", { cors: { allowOrigins: ["https://*.example.com"] } }, "url.cors.allowOrigins[0]", /whole origins, not wildcard patterns/],
        ["origin with another scheme", { cors: { allowOrigins: ["ftp://files.example.com"] } }, "url.cors.allowOrigins[0]", /"ftp" is not a scheme.*Fix: use "https:\/\/files\.example\.com"/],
        ["origin with a bad port", { cors: { allowOrigins: ["http://localhost:70000"] } }, "url.cors.allowOrigins[0]", /port 1-65535/],
        ["origin with a user", { cors: { allowOrigins: ["https://me@app.example.com"] } }, "url.cors.allowOrigins[0]", /no user name/],
        ["origin empty", { cors: { allowOrigins: [""] } }, "url.cors.allowOrigins[0]", /must be an origin/],
        ["origin too long", { cors: { allowOrigins: [`https://${"a".repeat(60)}.${"b".repeat(60)}.${"c".repeat(60)}.${"d".repeat(60)}.example.com`] } }, "url.cors.allowOrigins[0]", /at most 253 characters/],
        ["101 origins", { cors: { allowOrigins: Array.from({ length: 101 }, (_, i) => `https://a${i}.example.com`) } }, "url.cors.allowOrigins", /"101 entries": at most 100/],
        ["method lower case", { cors: { allowMethods: ["post"] } }, "url.cors.allowMethods[0]", /Fix: write it in upper case: "POST"/],
        ["method OPTIONS", { cors: { allowMethods: ["POST", "OPTIONS"] } }, "url.cors.allowMethods[1]", /Lambda answers the preflight itself.*Fix: remove OPTIONS/],
        ["method unknown", { cors: { allowMethods: ["FETCH"] } }, "url.cors.allowMethods[0]", /one of GET, POST, PUT, PATCH, DELETE, HEAD or "\*"/],
        ["seven methods", { cors: { allowMethods: ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "*"] } }, "url.cors.allowMethods", /at most 6 entries/],
        ["header with a colon", { cors: { allowHeaders: ["Content-Type: application/json"] } }, "url.cors.allowHeaders[0]", /Fix: give the name only: "Content-Type"/],
        ["header with a space", { cors: { exposeHeaders: ["x request id"] } }, "url.cors.exposeHeaders[0]", /HTTP header name/],
        ["header too long", { cors: { allowHeaders: ["x".repeat(1025)] } }, "url.cors.allowHeaders[0]", /at most 1024 characters/],
        ["credentials with any origin", { cors: { allowOrigins: ["*"], allowCredentials: true } }, "url.cors.allowCredentials", /browsers refuse.*"\*" origin/],
        ["credentials not boolean", { cors: { allowCredentials: "yes" } }, "url.cors.allowCredentials", /true or false/],
        ["maxAge over a day", { cors: { maxAge: 86_401 } }, "url.cors.maxAge", /86401: must be whole seconds from 0 to 86400/],
        ["maxAge negative", { cors: { maxAge: -1 } }, "url.cors.maxAge", /from 0 to 86400/],
        ["maxAge fractional", { cors: { maxAge: 1.5 } }, "url.cors.maxAge", /whole seconds/],
    ];
    for (const [what, v, setting, text] of bad) {
        it(`${what} → ${setting}`, () => {
            const e = expectError(() => validateUrl(v), `"${setting}"`);
            assert.match(e.message, text);
            assert.strictEqual(e.setting, setting);
        });
    }

    it("the gate runs it: normalizeArgs refuses a bad url, and keeps a good one", () => {
        expectError(() => normalizeArgs("embed", { ...goodArgs(), url: { cors: { allowOrigins: ["app.example.com"] } } }, ctx), "url.cors.allowOrigins[0]");
        assert.deepStrictEqual(normalizeArgs("embed", { ...goodArgs(), url: {} }, ctx).url, { authType: "AWS_IAM", invokeMode: "BUFFERED" });
        assert.strictEqual(normalizeArgs("embed", goodArgs(), ctx).url, undefined);
    });

    it("stack config: \"\" is no URL, the auth type alone, or the JSON object; anything else is named", () => {
        assert.strictEqual(parseStackConfig({}, FIX).args.url, undefined);
        assert.strictEqual(parseStackConfig({ url: "" }, FIX).args.url, undefined);
        assert.deepStrictEqual(parseStackConfig({ url: "NONE" }, FIX).args.url, { authType: "NONE" });
        assert.deepStrictEqual(parseStackConfig({ url: "AWS_IAM" }, FIX).args.url, { authType: "AWS_IAM" });
        const json = '{"authType": "NONE", "cors": {"allowOrigins": ["https://app.example.com"], "allowMethods": ["POST"]}}';
        assert.deepStrictEqual(parseStackConfig({ url: json }, FIX).args.url, JSON.parse(json));
        assert.match(expectError(() => parseStackConfig({ url: "public" }, FIX), "ml-lambda:url").message, /pulumi config set url AWS_IAM/);
        expectError(() => parseStackConfig({ url: '{"authType": ' }, FIX), "ml-lambda:url");
        // A JSON object reaches the gate, which names the field inside it.
        const s = parseStackConfig({ url: '{"cors": {"maxAge": 99999}}' }, FIX);
        expectError(() => normalizeArgs("embed", { ...goodArgs(), ...s.args, model: goodArgs().model }, ctx), "url.cors.maxAge");
    });
});
