/**
 * The real pack (policy/index.ts) served by @pulumi/policy's analyzer, driven over gRPC the way the Pulumi CLI
 * drives it, must agree with policy/evaluate.ts: same violations (policy, resource, message), same
 * not-applicable reasons, with the default config and with policy/config.prod.json.
 */
import * as assert from "assert";
import { ChildProcess, spawn } from "child_process";
import * as path from "path";
import { loadPolicyConfig, evaluatePolicies, PlanResource, PolicyPackConfig } from "../policy/evaluate";
import { mlLambdaPolicies } from "../policy/policies";
import { fixtureArgs, settle, startMocks } from "./mocks";
import { MlLambda } from "../components/mlLambda";

const grpc = require("@grpc/grpc-js");
const analyzerrpc = require("@pulumi/pulumi/proto/analyzer_grpc_pb");
const analyzerproto = require("@pulumi/pulumi/proto/analyzer_pb");
const structproto = require("google-protobuf/google/protobuf/struct_pb");

const POLICY_DIR = path.resolve(__dirname, "..", "policy");

interface Finding {
    policy: string;
    resource: string;
    message: string;
}

function startPack(): Promise<{ child: ChildProcess; port: number }> {
    return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, ["-r", "ts-node/register/transpile-only", "index.ts"], {
            cwd: POLICY_DIR,
            env: { ...process.env, TS_NODE_PROJECT: path.join(POLICY_DIR, "tsconfig.json") },
            stdio: ["ignore", "pipe", "pipe"],
        });
        let out = "";
        let err = "";
        const timer = setTimeout(() => reject(new Error(`the pack printed no port in 60 s: ${err}`)), 60_000);
        child.stdout!.on("data", (d) => {
            out += d;
            const m = /^(\d+)\s*$/m.exec(out);
            if (m) {
                clearTimeout(timer);
                resolve({ child, port: Number(m[1]) });
            }
        });
        child.stderr!.on("data", (d) => (err += d));
        child.on("exit", (code) => {
            clearTimeout(timer);
            reject(new Error(`the pack exited with ${code}: ${err}`));
        });
    });
}

const call = <T>(client: any, method: string, req: unknown): Promise<T> =>
    new Promise((resolve, reject) => client[method](req, (e: Error | null, r: T) => (e ? reject(e) : resolve(r))));

const LEVEL: Record<string, number> = { advisory: 0, mandatory: 1, disabled: 2, remediate: 3 };

/** What the CLI sends: every configured policy with its effective level and its properties. */
async function configure(client: any, config: PolicyPackConfig): Promise<void> {
    const req = new analyzerproto.ConfigureAnalyzerRequest();
    for (const p of mlLambdaPolicies) {
        const entry = config[p.name];
        const { enforcementLevel, ...props } = typeof entry === "string" ? { enforcementLevel: entry } : (entry ?? {});
        const pc = new analyzerproto.PolicyConfig();
        pc.setEnforcementlevel(LEVEL[enforcementLevel ?? p.enforcementLevel ?? "advisory"]);
        pc.setProperties(structproto.Struct.fromJavaScript(props));
        req.getPolicyconfigMap().set(p.name, pc);
    }
    await call(client, "configure", req);
}

function options(): any {
    const o = new analyzerproto.AnalyzerResourceOptions();
    o.setProtect(false);
    return o;
}

/** Runs analyze per resource and analyzeStack once, as the engine does during a preview. */
async function analyzeAll(client: any, resources: PlanResource[]): Promise<{ findings: Finding[]; notApplicable: string[] }> {
    const findings: Finding[] = [];
    const notApplicable: string[] = [];
    const description = new Map(mlLambdaPolicies.map((p) => [p.name, p.description]));
    const collect = (resp: any, resource?: string) => {
        for (const d of resp.getDiagnosticsList()) {
            const prefix = `${description.get(d.getPolicyname())}\n`;
            const message: string = d.getMessage().startsWith(prefix) ? d.getMessage().slice(prefix.length) : d.getMessage();
            findings.push({ policy: d.getPolicyname(), resource: d.getUrn() || resource || "", message });
        }
        for (const na of resp.getNotApplicableList()) {
            if (na.getReason().startsWith("Policy only applies to resources of type")) continue;
            notApplicable.push(`${na.getPolicyName()}|${resource ? `${resource}: ` : ""}${na.getReason()}`);
        }
    };
    for (const r of resources) {
        const req = new analyzerproto.AnalyzeRequest();
        req.setType(r.type);
        req.setName(r.name);
        req.setUrn(r.urn);
        req.setProperties(structproto.Struct.fromJavaScript(r.props));
        req.setOptions(options());
        collect(await call(client, "analyze", req), r.urn);
    }
    const stack = new analyzerproto.AnalyzeStackRequest();
    for (const r of resources) {
        const ar = new analyzerproto.AnalyzerResource();
        ar.setType(r.type);
        ar.setName(r.name);
        ar.setUrn(r.urn);
        ar.setProperties(structproto.Struct.fromJavaScript(r.props));
        ar.setOptions(options());
        stack.addResources(ar);
    }
    collect(await call(client, "analyzeStack", stack));
    return { findings, notApplicable };
}

async function evaluateAll(resources: PlanResource[], config?: PolicyPackConfig): Promise<{ findings: Finding[]; notApplicable: string[] }> {
    const vs = await evaluatePolicies(resources, config);
    return {
        findings: vs.flatMap((v) => v.violations.map((x) => ({ policy: v.name, resource: x.resource ?? "", message: x.message }))),
        notApplicable: vs.flatMap((v) => (v.notApplicable ?? []).filter((n) => !n.startsWith("Policy only applies to resources of type")).map((n) => `${v.name}|${n}`)),
    };
}

const sorted = (f: { findings: Finding[]; notApplicable: string[] }) => ({
    findings: [...f.findings].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    notApplicable: [...f.notApplicable].sort(),
});

describe("the served policy pack agrees with the offline evaluator (gRPC, like the Pulumi CLI)", function () {
    let pack: { child: ChildProcess; port: number } | undefined;
    let client: any;
    let graph: PlanResource[];

    before(async () => {
        const m = await startMocks({ preview: true });
        const c = new MlLambda("packzip", {
            ...fixtureArgs(),
            packaging: "zip",
            snapStart: true,
            logRetentionDays: 30,
        });
        await settle(c.functionArn, c.aliasArn, c.modelKey, c.sizeReport);
        const rs = m.resources.map((r) => ({ type: r.type, name: r.name, urn: `urn:pulumi:test::ml-lambda::${r.type}::${r.name}`, props: JSON.parse(JSON.stringify(r.inputs)) }));
        // Three settings made wrong: a mandatory resource violation, a mandatory stack violation, an advisory one.
        graph = rs.map((r) => {
            if (r.type === "aws:cloudwatch/logGroup:LogGroup") return { ...r, props: { ...r.props, retentionInDays: 0 } };
            if (r.type === "aws:s3/bucketVersioning:BucketVersioning") return { ...r, props: { ...r.props, versioningConfiguration: { status: "Suspended" } } };
            if (r.type === "aws:lambda/function:Function") return { ...r, props: { ...r.props, memorySize: 512 } };
            return r;
        });
        pack = await startPack();
        client = new analyzerrpc.AnalyzerClient(`127.0.0.1:${pack.port}`, grpc.credentials.createInsecure());
    });

    after(() => {
        client?.close();
        pack?.child.kill();
    });

    it("default config: same findings and not-applicable reasons", async () => {
        await configure(client, {});
        const served = sorted(await analyzeAll(client, graph));
        const offline = sorted(await evaluateAll(graph));
        assert.deepStrictEqual(served.findings.map((f) => f.policy).sort(), ["cloudwatch-log-group-retention", "ml-lambda-memory-minimum", "model-bucket-versioned"]);
        assert.deepStrictEqual(offline, served);
    });

    it("prod config (policy/config.prod.json): same findings", async () => {
        const prod = loadPolicyConfig(path.join(POLICY_DIR, "config.prod.json"));
        await configure(client, prod);
        const served = sorted(await analyzeAll(client, graph));
        const offline = sorted(await evaluateAll(graph, prod));
        assert.ok(served.findings.some((f) => f.policy === "lambda-reserved-concurrency"), "prod requires reserved concurrency");
        assert.deepStrictEqual(offline, served);
    });
});
