/**
 * The pack over a real graph: MlLambda run under Pulumi's mock engine (preview mode, as the offline plan runs
 * it), every recorded resource handed to evaluatePolicies. Well-configured functions pass every mandatory
 * policy, on both packaging paths and under the prod policy config; one wrong setting is refused by name.
 */
import * as assert from "assert";
import * as path from "path";
import { mockState } from "../cli/offline";
import { MlLambdaArgs } from "../components/args";
import { MlLambda } from "../components/mlLambda";
import { evaluatePolicies, loadPolicyConfig, mandatoryViolations, PlanResource, PolicyPackConfig, PolicyVerdict } from "../policy/evaluate";
import { fixtureArgs, Recorded, settle, startMocks } from "./mocks";

const PROD = path.resolve(__dirname, "..", "policy", "config.prod.json");

async function record(name: string, extra: Partial<MlLambdaArgs>): Promise<Recorded[]> {
    const m = await startMocks({ preview: true });
    const c = new MlLambda(name, {
        ...fixtureArgs(),
        logRetentionDays: 30,
        ...extra,
    });
    await settle(c.functionArn, c.aliasArn, c.modelKey, c.imageUri, c.sizeReport);
    return m.resources.map((r) => ({ ...r, inputs: JSON.parse(JSON.stringify(r.inputs)) }));
}

/** What the offline plan hands the evaluator: type, name, urn and the recorded inputs. */
const asPlan = (rs: Recorded[]): PlanResource[] => rs.map((r) => ({ type: r.type, name: r.name, urn: `urn:pulumi:test::ml-lambda::${r.type}::${r.name}`, props: r.inputs }));

/** The same, plus the mock engine's outputs and ids (so stack policies relate resources by value). */
const withOutputs = (rs: Recorded[]): PlanResource[] =>
    asPlan(rs).map((p) => {
        const state = mockState(p.type, p.name, p.props, "us-east-1");
        return { ...p, outputs: state, id: String(state.id ?? `${p.name}-id`) };
    });

function mutate(plan: PlanResource[], type: string, name: string, change: (props: Record<string, any>) => void): PlanResource[] {
    let hit = false;
    const out = plan.map((r) => {
        if (r.type !== type || r.name !== name) return r;
        hit = true;
        const props = JSON.parse(JSON.stringify(r.props));
        change(props);
        if (!r.outputs) return { ...r, props };
        // Outputs echo the inputs (mockState): change them alike.
        const outputs = JSON.parse(JSON.stringify(r.outputs));
        change(outputs);
        return { ...r, props, outputs };
    });
    assert.ok(hit, `no ${type} ${name} in the graph`);
    return out;
}

function mandatoryNames(vs: PolicyVerdict[]): string[] {
    return [...new Set(mandatoryViolations(vs).map((m) => m.policy))];
}

function assertClean(vs: PolicyVerdict[]): void {
    assert.deepStrictEqual(mandatoryViolations(vs), [], "no mandatory violations");
}

function violationOf(vs: PolicyVerdict[], policy: string, resource: string, message: RegExp): void {
    const v = vs.find((x) => x.name === policy)!;
    assert.ok(v, policy);
    const hit = v.violations.find((x) => x.resource?.endsWith(resource) && message.test(x.message));
    assert.ok(hit, `${policy}: no violation on ${resource} matching ${message}; got ${JSON.stringify(v.violations)}`);
}

describe("policy pack over MlLambda graphs (mock engine, preview)", function () {
    let zip: Recorded[];
    let zipS3: Recorded[];
    let image: Recorded[];
    let prod: PolicyPackConfig;
    const FN = "aws:lambda/function:Function";

    before(async () => {
        // Zip: the dev shape (SnapStart, no provisioned concurrency) with a reservation so the prod config passes too.
        zip = await record("polzip", { packaging: "zip", snapStart: true, reservedConcurrency: 10 });
        // The same with the model fetched from S3 (a role that reads one object).
        zipS3 = await record("polzips3", { packaging: "zip", modelDelivery: "s3", snapStart: true, reservedConcurrency: 10 });
        // Image: the prod shape (reserved 50, provisioned concurrency auto scaled 2..20).
        image = await record("polimg", { packaging: "image", reservedConcurrency: 50, provisionedConcurrency: { min: 2, max: 20, targetUtilization: 0.7 } });
        prod = loadPolicyConfig(PROD);
    });

    it("records the resources the policies look at", () => {
        for (const t of [FN, "aws:s3/bucket:Bucket", "aws:s3/bucketPolicy:BucketPolicy", "aws:iam/rolePolicy:RolePolicy", "aws:cloudwatch/logGroup:LogGroup"]) {
            assert.ok(zip.some((r) => r.type === t), `zip graph has ${t}`);
        }
        assert.ok(image.some((r) => r.type === "aws:ecr/repository:Repository"));
        assert.ok(image.some((r) => r.type === "aws:appautoscaling/target:Target"));
    });

    describe("zip path", () => {
        it("has no mandatory violations (default config, then prod config)", async () => {
            const vs = await evaluatePolicies(asPlan(zip));
            assertClean(vs);
            assertClean(await evaluatePolicies(asPlan(zip), prod));
            // The policies really looked at the graph: nothing that should apply was skipped.
            for (const name of ["lambda-unzipped-size-within-limit", "lambda-snapstart-compatible", "model-bucket-tls-only", "lambda-role-least-privilege", "lambda-log-group-managed"]) {
                const v = vs.find((x) => x.name === name)!;
                assert.ok(v.checked > 0, `${name} checked nothing: ${JSON.stringify(v.notApplicable)}`);
                assert.strictEqual(v.notApplicable, undefined, `${name}: ${JSON.stringify(v.notApplicable)}`);
            }
        });

        it("also passes with the mock engine's outputs and ids (relating by value)", async () => {
            assertClean(await evaluatePolicies(withOutputs(zip), prod));
        });

        it("refuses a log group without retention (recorded props mutated: the component's validators cannot produce it)", async () => {
            const plan = mutate(asPlan(zip), "aws:cloudwatch/logGroup:LogGroup", "polzip-logs", (p) => delete p.retentionInDays);
            const vs = await evaluatePolicies(plan);
            assert.deepStrictEqual(mandatoryNames(vs), ["cloudwatch-log-group-retention"]);
            violationOf(vs, "cloudwatch-log-group-retention", "::polzip-logs", /keeps logs forever/);
        });

        it("the model ships in a layer: the role reads no S3 object; a read added to it is refused", async () => {
            assert.ok(!zip.some((r) => r.name === "polzip-model-read"), "no model read on the layer path");
            const role = zip.find((r) => r.type === "aws:iam/role:Role")!;
            const withRead = [...asPlan(zip), {
                type: "aws:iam/rolePolicy:RolePolicy", name: "polzip-leftover-read", urn: "urn:pulumi:test::ml-lambda::aws:iam/rolePolicy:RolePolicy::polzip-leftover-read",
                props: { role: role.outputs?.name ?? role.inputs.name, policy: JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "s3:GetObject", Resource: "arn:aws:s3:::b/models/x.tar" }] }) },
            }];
            const vs = await evaluatePolicies(withRead);
            assert.deepStrictEqual(mandatoryNames(vs), ["lambda-role-least-privilege"]);
            violationOf(vs, "lambda-role-least-privilege", "::polzip-leftover-read", /its model ships with it \(MODEL_DIR=\/opt\/ml\/model, no MODEL_BUCKET\)/);
        });

        it("the model from S3: passes, and refuses a model read widened to the whole bucket", async () => {
            assertClean(await evaluatePolicies(asPlan(zipS3)));
            const plan = mutate(asPlan(zipS3), "aws:iam/rolePolicy:RolePolicy", "polzips3-model-read", (p) => {
                const d = JSON.parse(p.policy);
                d.Statement[0].Resource = d.Statement[0].Resource.replace(/\/.*$/, "/*");
                p.policy = JSON.stringify(d);
            });
            const vs = await evaluatePolicies(plan);
            assert.deepStrictEqual(mandatoryNames(vs), ["lambda-role-least-privilege"]);
            violationOf(vs, "lambda-role-least-privilege", "::polzips3-model-read", /reaches every object/);
        });

        it("refuses a bucket whose versioning is suspended (related by name offline, by id with outputs)", async () => {
            for (const base of [asPlan(zip), withOutputs(zip)]) {
                const plan = mutate(base, "aws:s3/bucketVersioning:BucketVersioning", "polzip-models-versioning", (p) => (p.versioningConfiguration.status = "Suspended"));
                const vs = await evaluatePolicies(plan);
                assert.deepStrictEqual(mandatoryNames(vs), ["model-bucket-versioned"]);
                violationOf(vs, "model-bucket-versioned", "::polzip-models", /not versioned \(status Suspended\)/);
            }
        });

        it("refuses a measured size over the limit", async () => {
            const plan = mutate(asPlan(zip), FN, "polzip", (p) => (p.tags["ml-lambda:unzipped-bytes"] = "300000000"));
            violationOf(await evaluatePolicies(plan), "lambda-unzipped-size-within-limit", "::polzip", /300,000,000 bytes unzipped/);
        });

        it("prod config: refuses the function without reserved concurrency", async () => {
            const plan = mutate(asPlan(zip), FN, "polzip", (p) => delete p.reservedConcurrentExecutions);
            assertClean(await evaluatePolicies(plan));
            const vs = await evaluatePolicies(plan, prod);
            assert.deepStrictEqual(mandatoryNames(vs), ["lambda-reserved-concurrency"]);
            violationOf(vs, "lambda-reserved-concurrency", "::polzip", /requires reserved concurrency/);
        });

        it("prod config: raises the ML memory minimum to mandatory", async () => {
            const plan = mutate(asPlan(zip), FN, "polzip", (p) => (p.memorySize = 512));
            const dev = await evaluatePolicies(plan);
            assertClean(dev);
            violationOf(dev, "ml-lambda-memory-minimum", "::polzip", /below the ML minimum/);
            assert.deepStrictEqual(mandatoryNames(await evaluatePolicies(plan, prod)), ["ml-lambda-memory-minimum"]);
        });
    });

    describe("function URL", () => {
        const URL_POLICY = "lambda-function-url-auth";
        let iamUrl: Recorded[];
        let publicUrl: Recorded[];
        before(async () => {
            iamUrl = await record("poliam", { packaging: "zip", snapStart: true, reservedConcurrency: 10, url: { authType: "AWS_IAM" } });
            publicUrl = await record("polpub", { packaging: "zip", snapStart: true, reservedConcurrency: 10, url: { authType: "NONE", cors: { allowOrigins: ["*"] } } });
        });

        it("sees the component's FunctionUrl: AWS_IAM passes every mandatory policy (default and prod config)", async () => {
            assert.ok(iamUrl.some((r) => r.type === "aws:lambda/functionUrl:FunctionUrl"));
            const vs = await evaluatePolicies(asPlan(iamUrl));
            assertClean(vs);
            assertClean(await evaluatePolicies(withOutputs(iamUrl), prod));
            const v = vs.find((x) => x.name === URL_POLICY)!;
            assert.strictEqual(v.checked, 1, "the URL policy evaluated the one FunctionUrl");
            assert.deepStrictEqual(v.violations, []);
        });

        it("a NONE URL is refused by the pack's default and prod config, naming the resource and the way out", async () => {
            for (const config of [undefined, prod]) {
                const vs = await evaluatePolicies(asPlan(publicUrl), config);
                assert.deepStrictEqual(mandatoryNames(vs), [URL_POLICY]);
                violationOf(vs, URL_POLICY, "::polpub-url", /authorizationType NONE.*allowPublicUrls: true/);
            }
        });

        it("a NONE URL passes where the stack's policy config allows public URLs (its grants raise nothing else)", async () => {
            const vs = await evaluatePolicies(withOutputs(publicUrl), { [URL_POLICY]: { allowPublicUrls: true } });
            assertClean(vs);
            assert.strictEqual(vs.find((x) => x.name === URL_POLICY)!.checked, 1);
        });
    });

    describe("image path", () => {
        it("has no mandatory violations (default config, then prod config)", async () => {
            const vs = await evaluatePolicies(asPlan(image));
            assertClean(vs);
            assertClean(await evaluatePolicies(asPlan(image), prod));
            assertClean(await evaluatePolicies(withOutputs(image), prod));
            for (const name of ["lambda-image-pinned-by-digest", "ecr-scan-on-push", "ecr-immutable-tags", "lambda-provisioned-within-reserved", "lambda-snapstart-without-provisioned-concurrency"]) {
                const v = vs.find((x) => x.name === name)!;
                assert.ok(v.checked > 0, `${name} checked nothing: ${JSON.stringify(v.notApplicable)}`);
            }
        });

        it("refuses an image referenced by tag", async () => {
            const plan = mutate(asPlan(image), FN, "polimg", (p) => (p.imageUri = p.imageUri.replace(/@sha256:.*$/, ":latest")));
            const vs = await evaluatePolicies(plan);
            assert.deepStrictEqual(mandatoryNames(vs), ["lambda-image-pinned-by-digest"]);
            violationOf(vs, "lambda-image-pinned-by-digest", "::polimg", /not pinned by digest/);
        });

        it("refuses a mutable, unscanned repository", async () => {
            const plan = mutate(asPlan(image), "aws:ecr/repository:Repository", "polimg-repo", (p) => {
                p.imageTagMutability = "MUTABLE";
                p.imageScanningConfiguration.scanOnPush = false;
            });
            assert.deepStrictEqual(mandatoryNames(await evaluatePolicies(plan)), ["ecr-scan-on-push", "ecr-immutable-tags"]);
        });

        it("refuses SnapStart added to the function that has auto-scaled provisioned concurrency", async () => {
            const plan = mutate(asPlan(image), FN, "polimg", (p) => (p.snapStart = { applyOn: "PublishedVersions" }));
            const vs = await evaluatePolicies(plan);
            assert.deepStrictEqual(mandatoryNames(vs), ["lambda-snapstart-without-provisioned-concurrency"]);
            violationOf(vs, "lambda-snapstart-without-provisioned-concurrency", "::polimg", /SnapStart and auto-scaled provisioned concurrency/);
        });

        it("refuses an auto scaling maximum above the reservation", async () => {
            const plan = mutate(asPlan(image), "aws:appautoscaling/target:Target", "polimg-pc-target", (p) => (p.maxCapacity = 80));
            violationOf(await evaluatePolicies(plan), "lambda-provisioned-within-reserved", "::polimg", /reserves 50 but provisions up to 80/);
        });
    });
});
