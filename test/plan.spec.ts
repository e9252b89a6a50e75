/**
 * The offline plan: dev and prod pass, a bad stack is refused by name, the JSON shape holds, exit codes are right.
 */
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { plan, PlanResult, renderPlan } from "../cli/plan";
import { NO_EXPORT_PYTHON, offlineHubCache, REPO, TEST_CACHE } from "./mocks";

/** A throwaway project: the real program and components, with a stack file the test writes. */
function projectWith(stackName: string, stackYaml: string): string {
    const dir = fs.mkdtempSync(path.join(REPO, ".cache", "plan-"));
    for (const f of ["Pulumi.yaml", "index.ts", "config.ts"]) fs.copyFileSync(path.join(REPO, f), path.join(dir, f));
    for (const d of ["components", "policy", "python"]) fs.symlinkSync(path.join(REPO, d), path.join(dir, d));
    fs.writeFileSync(path.join(dir, `Pulumi.${stackName}.yaml`), stackYaml);
    return dir;
}

describe("ml-lambda plan (offline)", function () {
    let dev: PlanResult;
    let prod: PlanResult;
    const env = { ...process.env };

    before(async () => {
        process.env.HF_HUB_CACHE = offlineHubCache();
        process.env.ML_LAMBDA_CACHE_DIR = TEST_CACHE;
        // dev and prod run the onnx backend on the model's own ONNX file: no torch export (it would fail).
        process.env.ML_LAMBDA_EXPORT_PYTHON = NO_EXPORT_PYTHON;
        dev = await plan({ projectDir: REPO, stack: "dev" });
        prod = await plan({ projectDir: REPO, stack: "prod" });
    });
    after(() => {
        process.env = env;
    });

    it("has the documented JSON shape", () => {
        for (const p of [dev, prod]) {
            const json = JSON.parse(JSON.stringify(p));
            assert.strictEqual(json.offline, true);
            assert.match(json.note, /mock engine.*nothing was sent to AWS/);
            assert.ok(Array.isArray(json.resources) && json.resources.length >= 15);
            for (const r of json.resources) assert.ok(typeof r.type === "string" && typeof r.name === "string" && typeof r.inputs === "object");
            assert.strictEqual(json.decision.length, 1);
            assert.ok(["zip", "image"].includes(json.decision[0].mode));
            assert.ok(json.decision[0].reasons.length > 0 && json.decision[0].totalBytes > 0);
            assert.ok(json.policies.length >= 20);
            for (const pol of json.policies) {
                assert.match(pol.name, /^[a-z0-9]+(-[a-z0-9]+)*$/);
                assert.ok(["advisory", "mandatory", "disabled", "remediate"].includes(pol.enforcementLevel));
                assert.ok(Array.isArray(pol.violations));
            }
        }
    });

    it("dev and prod pass with no mandatory violations", () => {
        assert.strictEqual(dev.mandatoryViolations, 0, renderPlan(dev));
        assert.strictEqual(prod.mandatoryViolations, 0, renderPlan(prod));
    });

    it("uses the stack's policy config: prod makes the ML minimums mandatory, dev leaves them advisory", () => {
        const level = (p: PlanResult, name: string) => p.policies.find((x) => x.name === name)!.enforcementLevel;
        assert.strictEqual(level(dev, "ml-lambda-memory-minimum"), "advisory");
        assert.strictEqual(level(prod, "ml-lambda-memory-minimum"), "mandatory");
    });

    it("renders the tree under the component, the decision and the verdicts", () => {
        const text = renderPlan(dev);
        assert.match(text, /OFFLINE PLAN/);
        assert.match(text, /└─ pulumi-ml-lambda:index:MlLambda {2}embeddings/);
        assert.match(text, /aws:lambda\/function:Function {2}embeddings .*memorySize=1769/);
        assert.match(text, /Packaging of embeddings: (ZIP|IMAGE)/);
        assert.match(text, /Result: OK/);
    });

    it("refuses a stack that breaks a mandatory policy, naming the policy and the resource", async () => {
        // Valid for the component, but the prod policy config demands reserved concurrency.
        const dir = projectWith("prodlike", "config:\n  aws:region: us-east-1\n  ml-lambda:memorySize: 3008\n");
        try {
            const p = await plan({ projectDir: dir, stack: "prodlike", policyConfig: path.join(REPO, "policy", "config.prod.json") });
            const v = p.policies.find((x) => x.name === "lambda-reserved-concurrency")!;
            assert.strictEqual(v.enforcementLevel, "mandatory");
            assert.strictEqual(v.violations.length, 1);
            assert.ok(p.mandatoryViolations >= 1);
            assert.match(renderPlan(p), /FAIL lambda-reserved-concurrency[\s\S]*Result: REFUSED/);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("exits 2 on a configuration error naming the setting, 1 on a mandatory violation; --json stdout is one object", function () {
        const dir = projectWith("bad", "config:\n  ml-lambda:snapStart: true\n  ml-lambda:runtime: python3.11\n");
        const cli = (args: string[]) => spawnSync(process.execPath, [require.resolve("ts-node/dist/bin"), "--transpile-only", path.join(REPO, "cli", "main.ts"), "plan", ...args], {
            cwd: dir, encoding: "utf8", env: process.env,
        });
        try {
            const bad = cli(["--stack", "bad", "--json"]);
            assert.strictEqual(bad.status, 2, bad.stderr);
            const err = JSON.parse(bad.stdout);
            assert.match(err.error, /snapStart.*python3\.12/);
            fs.writeFileSync(path.join(dir, "Pulumi.refused.yaml"), "config:\n  ml-lambda:memorySize: 3008\n");
            const refused = cli(["--stack", "refused", "--json", "--policy-config", path.join(REPO, "policy", "config.prod.json")]);
            assert.strictEqual(refused.status, 1, refused.stderr);
            const out = JSON.parse(refused.stdout); // throws if anything else reached stdout
            assert.ok(out.mandatoryViolations >= 1);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});
