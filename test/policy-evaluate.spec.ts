/**
 * policy/evaluate.ts: the in-process evaluator the offline plan uses instead of the analyzer's gRPC server.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { ResourceValidationPolicy, StackValidationPolicy, validateResourceOfType } from "@pulumi/policy";
import { evaluatePolicies, loadPolicyConfig, mandatoryViolations, PlanResource, PolicyConfigError, PolicyVerdict, validatePolicyConfig } from "../policy/evaluate";
import { mlLambdaPolicies } from "../policy/policies";
import { getHappyPathBucketStack, getHappyPathConcurrencyStack, getHappyPathFunctionStack, getHappyPathImageFunction, getHappyPathZipFunction, StackEntry, UNKNOWN } from "./policy-helpers";

const REPO = path.resolve(__dirname, "..");
const tokenOf = (cls: any): string => cls.__pulumiType;
const plan = (entries: StackEntry[]): PlanResource[] => entries.map((e) => ({ type: tokenOf(e.cls), name: e.name, props: e.props }));
const verdict = (vs: PolicyVerdict[], name: string) => {
    const v = vs.find((x) => x.name === name);
    assert.ok(v, `no verdict for ${name}`);
    return v!;
};
const happy = () => plan([...getHappyPathBucketStack(), ...getHappyPathFunctionStack()]);

describe("policy evaluator (offline, no gRPC server)", () => {
    it("returns one verdict per policy, in the pack's order, and none mandatory-violated for a good stack", async () => {
        const vs = await evaluatePolicies(happy());
        assert.deepStrictEqual(vs.map((v) => v.name), mlLambdaPolicies.map((p) => p.name));
        assert.deepStrictEqual(mandatoryViolations(vs), []);
        assert.deepStrictEqual(vs.flatMap((v) => v.violations), []);
        for (const v of vs) {
            assert.ok(typeof v.description === "string" && v.description.startsWith("Checks whether"));
            assert.ok(["resource", "stack"].includes(v.kind));
        }
        assert.strictEqual(verdict(vs, "lambda-memory-within-limits").checked, 1);
        assert.strictEqual(verdict(vs, "model-bucket-tls-only").checked, 1);
    });

    it("attributes a resource violation to the resource (urn, else type::name)", async () => {
        const resources = happy().map((r) => (r.type === tokenOf(aws.lambda.Function) ? { ...r, props: { ...r.props, memorySize: 64 } } : r));
        const v = verdict(await evaluatePolicies(resources), "lambda-memory-within-limits");
        assert.strictEqual(v.enforcementLevel, "mandatory");
        assert.deepStrictEqual(v.violations.map((x) => x.resource), ["aws:lambda/function:Function::embeddings"]);
        assert.match(v.violations[0].message, /memorySize 64 MB/);
        const withUrn = resources.map((r) => ({ ...r, urn: `urn:pulumi:dev::ml-lambda::${r.type}::${r.name}` }));
        const v2 = verdict(await evaluatePolicies(withUrn), "lambda-memory-within-limits");
        assert.strictEqual(v2.violations[0].resource, "urn:pulumi:dev::ml-lambda::aws:lambda/function:Function::embeddings");
    });

    it("attributes a stack violation to the resource the policy names", async () => {
        const resources = happy().filter((r) => r.name !== "embeddings-models-versioning");
        const v = verdict(await evaluatePolicies(resources), "model-bucket-versioned");
        assert.deepStrictEqual(v.violations.map((x) => x.resource), ["aws:s3/bucket:Bucket::embeddings-models"]);
    });

    it("lists not-applicable reasons per resource, and says when no resource has the policy's type", async () => {
        const vs = await evaluatePolicies(happy());
        assert.deepStrictEqual(verdict(vs, "lambda-image-pinned-by-digest").notApplicable, ["aws:lambda/function:Function::embeddings: zip function"]);
        assert.strictEqual(verdict(vs, "lambda-image-pinned-by-digest").checked, 0);
        assert.deepStrictEqual(verdict(vs, "ecr-scan-on-push").notApplicable, ["Policy only applies to resources of type 'aws:ecr/repository:Repository'"]);
        assert.deepStrictEqual(verdict(vs, "lambda-provisioned-within-reserved").notApplicable, ["no provisioned concurrency in the stack"]);
    });

    describe("config", () => {
        it("merges schema defaults with the given config (getConfig)", async () => {
            const resources = plan([{ cls: aws.lambda.Function, name: "fn", props: { ...getHappyPathZipFunction(), memorySize: 1024 } }]);
            assert.deepStrictEqual(verdict(await evaluatePolicies(resources), "ml-lambda-memory-minimum").violations, []);
            const v = verdict(await evaluatePolicies(resources, { "ml-lambda-memory-minimum": { minMemoryMb: 3008 } }), "ml-lambda-memory-minimum");
            assert.match(v.violations[0].message, /below the ML minimum of 3,008 MB/);
        });

        it("takes the level from the policy's config, then from \"all\", then from the policy", async () => {
            const resources = plan([{ cls: aws.lambda.Function, name: "fn", props: { ...getHappyPathZipFunction(), memorySize: 512, timeout: 10 } }]);
            const base = await evaluatePolicies(resources);
            assert.strictEqual(verdict(base, "ml-lambda-memory-minimum").enforcementLevel, "advisory");
            assert.deepStrictEqual(mandatoryViolations(base), []);
            const raised = await evaluatePolicies(resources, { "ml-lambda-memory-minimum": { enforcementLevel: "mandatory" } });
            assert.deepStrictEqual(mandatoryViolations(raised).map((m) => m.policy), ["ml-lambda-memory-minimum"]);
            const all = await evaluatePolicies(resources, { all: "mandatory", "ml-lambda-timeout-cold-load": "advisory" });
            assert.strictEqual(verdict(all, "ml-lambda-memory-minimum").enforcementLevel, "mandatory");
            assert.strictEqual(verdict(all, "ml-lambda-timeout-cold-load").enforcementLevel, "advisory");
        });

        it("skips disabled policies", async () => {
            const resources = plan([{ cls: aws.lambda.Function, name: "fn", props: { ...getHappyPathZipFunction(), memorySize: 64 } }]);
            const v = verdict(await evaluatePolicies(resources, { "lambda-memory-within-limits": "disabled" }), "lambda-memory-within-limits");
            assert.strictEqual(v.enforcementLevel, "disabled");
            assert.deepStrictEqual(v.violations, []);
        });

        it("refuses an unknown policy, an unknown key, a wrong type, a value out of range, a bad level — naming policy and key", () => {
            const cases: Array<[unknown, RegExp]> = [
                [{ "lambda-memory-maximum": {} }, /unknown policy "lambda-memory-maximum"/],
                [{ "lambda-reserved-concurrency": { requireReserved: true } }, /"lambda-reserved-concurrency": unknown key "requireReserved" \(known: enforcementLevel, requireReservedConcurrency/],
                [{ "lambda-reserved-concurrency": { requireReservedConcurrency: "yes" } }, /"lambda-reserved-concurrency".requireReservedConcurrency must be boolean, got string "yes"/],
                [{ "ml-lambda-memory-minimum": { minMemoryMb: 1024.5 } }, /"ml-lambda-memory-minimum".minMemoryMb must be integer, got number/],
                [{ "ml-lambda-memory-minimum": { minMemoryMb: 64 } }, /minMemoryMb must be at least 128, got 64/],
                [{ "lambda-role-least-privilege": { allowedWildcardActions: ["ok", 3] } }, /allowedWildcardActions\[1\] must be string/],
                [{ "lambda-runtime-not-deprecated": { asOf: "June 2027" } }, /asOf must match/],
                [{ "lambda-memory-within-limits": { enforcementLevel: "blocking" } }, /"lambda-memory-within-limits".enforcementLevel must be one of advisory, mandatory, remediate, disabled/],
                [{ "lambda-memory-within-limits": 3 }, /must be an enforcement level or an object, got integer/],
                [[], /must be an object keyed by policy name/],
            ];
            for (const [config, message] of cases) {
                assert.throws(() => validatePolicyConfig(config), (e: Error) => e instanceof PolicyConfigError && message.test(e.message), `${JSON.stringify(config)} -> ${message}`);
            }
        });

        it("evaluatePolicies refuses a bad config before running anything", async () => {
            await assert.rejects(evaluatePolicies(happy(), { "ml-lambda-memory-minimum": { minMemory: 1 } }), /unknown key "minMemory"/);
        });

        it("loads policy/config.prod.json: reserved concurrency required, ML minimums mandatory", async () => {
            const cfg = loadPolicyConfig(path.join(REPO, "policy", "config.prod.json"));
            assert.deepStrictEqual(cfg["lambda-reserved-concurrency"], { requireReservedConcurrency: true });
            const resources = plan(getHappyPathFunctionStack({ ...getHappyPathZipFunction(), reservedConcurrentExecutions: undefined }));
            const vs = await evaluatePolicies(resources, cfg);
            assert.strictEqual(verdict(vs, "ml-lambda-memory-minimum").enforcementLevel, "mandatory");
            assert.deepStrictEqual(mandatoryViolations(vs).map((m) => m.policy), ["cloudwatch-log-group-retention", "lambda-reserved-concurrency"]);
            assert.match(mandatoryViolations(vs)[0].message, /outside this stack's 30-3653 day range/);
        });

        it("names the file when a config file is not JSON or not valid", () => {
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "policy-config-"));
            const bad = path.join(dir, "bad.json");
            fs.writeFileSync(bad, "{ lambda-reserved-concurrency: true");
            assert.throws(() => loadPolicyConfig(bad), (e: Error) => e instanceof PolicyConfigError && e.message.startsWith(`${bad}: `));
            const wrong = path.join(dir, "wrong.json");
            fs.writeFileSync(wrong, JSON.stringify({ "lambda-function-url-auth": { allowPublicUrls: "true" } }));
            assert.throws(() => loadPolicyConfig(wrong), /wrong\.json: policy config "lambda-function-url-auth".allowPublicUrls must be boolean/);
            fs.rmSync(dir, { recursive: true, force: true });
        });
    });

    describe("values unknown in preview", () => {
        it("maps the mock engine's unknown to the analyzer's sentinel (image digest not yet known)", async () => {
            const resources: PlanResource[] = [{ type: tokenOf(aws.lambda.Function), name: "img", props: { ...getHappyPathImageFunction(), imageUri: (pulumi as any).unknown } }];
            const v = verdict(await evaluatePolicies(resources), "lambda-image-pinned-by-digest");
            assert.deepStrictEqual(v.violations, []);
            assert.match(v.notApplicable![0], /^aws:lambda\/function:Function::img: imageUri is computed by the image push and unknown in preview/);
        });

        it("reports a policy that trips over an unknown as \"can't run during preview\", like the analyzer", async () => {
            const careless: ResourceValidationPolicy = {
                name: "careless",
                description: "Checks whether a role ARN starts with arn:",
                enforcementLevel: "mandatory",
                validateResource: validateResourceOfType(aws.lambda.Function, (fn, _args, report) => {
                    if (!fn.role.startsWith("arn:")) report("bad role");
                }),
            };
            const resources: PlanResource[] = [{ type: tokenOf(aws.lambda.Function), name: "fn", props: { ...getHappyPathZipFunction(), role: UNKNOWN } }];
            const [v] = await evaluatePolicies(resources, undefined, { policies: [careless] });
            assert.deepStrictEqual(v.violations, []);
            assert.match(v.notApplicable![0], /fn: can't run during preview: string value at .role can't be known during preview/);
        });

        it("unwraps secrets as the analyzer does", async () => {
            const secret = { "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", value: 64 };
            const resources: PlanResource[] = [{ type: tokenOf(aws.lambda.Function), name: "fn", props: { ...getHappyPathZipFunction(), memorySize: secret } }];
            const v = verdict(await evaluatePolicies(resources), "lambda-memory-within-limits");
            assert.match(v.violations[0].message, /memorySize 64 MB/);
        });

        it("relates resources through propertyDependencies when given (as the engine gives them)", async () => {
            const entries = getHappyPathBucketStack().map((e) => (e.name === "embeddings-models" ? { ...e, props: {} } : { ...e, name: e.name.replace("embeddings-models-", "s-") }));
            const resources: PlanResource[] = plan(entries).map((r) => (r.name === "embeddings-models" ? { ...r, id: undefined } : { ...r, props: { ...r.props, bucket: UNKNOWN }, propertyDependencies: { bucket: ["aws:s3/bucket:Bucket::embeddings-models"] } }));
            const vs = await evaluatePolicies(resources);
            for (const name of ["model-bucket-encrypted", "model-bucket-versioned", "model-bucket-public-access-blocked", "model-bucket-tls-only"]) {
                assert.deepStrictEqual(verdict(vs, name).violations, [], name);
                assert.strictEqual(verdict(vs, name).notApplicable, undefined, name);
            }
            const noDeps = resources.map((r) => ({ ...r, propertyDependencies: undefined }));
            assert.match(verdict(await evaluatePolicies(noDeps), "model-bucket-versioned").notApplicable![0], /cannot be decided before apply/);
        });

        it("lets stack policies see outputs and ids merged over inputs", async () => {
            const entries = getHappyPathConcurrencyStack();
            const resources = plan(entries).map((r) => (r.type === tokenOf(aws.lambda.Function) ? { ...r, props: { ...r.props, reservedConcurrentExecutions: undefined }, outputs: { reservedConcurrentExecutions: 10 } } : r));
            const v = verdict(await evaluatePolicies(resources), "lambda-provisioned-within-reserved");
            assert.match(v.violations[0].message, /reserves 10 but provisions up to 20/);
        });
    });

    it("names the policy and resource when a policy throws", async () => {
        const broken: StackValidationPolicy = {
            name: "broken",
            description: "Checks whether nothing",
            enforcementLevel: "advisory",
            validateStack: () => {
                throw new TypeError("oops");
            },
        };
        await assert.rejects(evaluatePolicies(happy(), undefined, { policies: [broken] }), /policy broken failed: TypeError: oops/);
    });
});
