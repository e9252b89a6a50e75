/**
 * Test harness: Pulumi's mock engine with every registered resource recorded, plus each resource's parent
 * (captured by a stack transformation, since the mocks are not told parents).
 */
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { mockCall, mockState, RecordedResource } from "../cli/offline";
import { DEFAULT_MODEL_ID, DEFAULT_MODEL_REVISION } from "../components/model";
import { REPO } from "./paths";
export { REPO, TEST_CACHE } from "./paths";

export interface Recorded extends RecordedResource {
    parentResource?: pulumi.Resource;
}

export interface MockSession {
    resources: Recorded[];
    /**
     * Pass in the component's `transformations`: they are inherited by every child, so each child's parent is
     * recorded (the mocks themselves are not told parents).
     */
    recordParents: pulumi.ResourceTransformation;
    calls: string[];
    byType(type: string): Recorded[];
    one(type: string): Recorded;
}

export async function startMocks(opts: { project?: string; stack?: string; preview?: boolean; config?: Record<string, string> } = {}): Promise<MockSession> {
    const resources: Recorded[] = [];
    const calls: string[] = [];
    const parents = new Map<string, pulumi.Resource | undefined>();
    pulumi.runtime.setAllConfig({ "aws:region": "us-east-1", ...(opts.config ?? {}) }, []);
    await pulumi.runtime.setMocks({
        newResource(args) {
            const state = mockState(args.type, args.name, args.inputs, "us-east-1");
            const id = String(state.id ?? `${args.name}-id`);
            resources.push({ type: args.type, name: args.name, inputs: args.inputs, custom: args.custom ?? true, parentResource: parents.get(`${args.type}::${args.name}`), id, outputs: state });
            return { id, state };
        },
        call(args) {
            calls.push(args.token);
            return mockCall(args.token, args.inputs, "us-east-1");
        },
    }, opts.project ?? "ml-lambda", opts.stack ?? "test", opts.preview ?? false);
    const byType = (type: string) => resources.filter((r) => r.type === type);
    return {
        resources,
        recordParents: (args) => {
            parents.set(`${args.type}::${args.name}`, args.opts.parent);
            return undefined;
        },
        calls,
        byType,
        one(type: string) {
            const found = byType(type);
            if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}: ${resources.map((r) => r.type).join(", ")}`);
            return found[0];
        },
    };
}

export function value<T>(o: pulumi.Output<T>): Promise<T> {
    return new Promise((resolve) => o.apply((v) => { resolve(v); return v; }));
}

/** Lets registrations started from applies reach the mocks before asserting on the recorded list. */
export async function settle(...outputs: pulumi.Output<unknown>[]): Promise<void> {
    await Promise.all(outputs.map(value));
    await new Promise((r) => setTimeout(r, 20));
}

/**
 * huggingface.co is unreachable here, so the default model's pinned revision is served from a Hugging Face
 * cache laid out exactly as the hub client writes it. The lookup code path is the real one; only the bytes are a
 * fixture: test/fixtures/tiny-bert, a real (untrained, 100 KB) BERT, because the dev stack's onnx backend exports
 * the model to ONNX at build time, which torch cannot do with a stand-in. Export Python: useTestExportPython().
 */
export function seedFakeHubCache(): string {
    const hub = path.join(REPO, ".cache", "test-hf-hub", "tiny-bert");
    const snap = path.join(hub, `models--${DEFAULT_MODEL_ID.replace("/", "--")}`, "snapshots", DEFAULT_MODEL_REVISION);
    if (!fs.existsSync(path.join(snap, "config.json"))) {
        fs.mkdirSync(path.dirname(snap), { recursive: true });
        fs.cpSync(path.join(__dirname, "fixtures", "tiny-bert"), snap, { recursive: true });
    }
    return hub;
}

/** The test venv (scripts/setup-python.sh) has torch, transformers, onnx, onnxruntime: the ONNX export's needs. */
export const TEST_EXPORT_PYTHON = path.join(REPO, ".cache", "venv", "bin", "python");

/**
 * Points ML_LAMBDA_EXPORT_PYTHON at the test venv (unless already set), so tests of the onnx backends never make
 * the component create its own multi-GB export environment. Returns a function restoring the previous value.
 */
export function useTestExportPython(): () => void {
    const before = process.env.ML_LAMBDA_EXPORT_PYTHON;
    if (!before) {
        if (!fs.existsSync(TEST_EXPORT_PYTHON)) {
            throw new Error(`${TEST_EXPORT_PYTHON} missing: the onnx backend tests export a model with torch; run bash scripts/setup-python.sh`);
        }
        process.env.ML_LAMBDA_EXPORT_PYTHON = TEST_EXPORT_PYTHON;
    }
    return () => {
        if (before === undefined) delete process.env.ML_LAMBDA_EXPORT_PYTHON;
        else process.env.ML_LAMBDA_EXPORT_PYTHON = before;
    };
}
