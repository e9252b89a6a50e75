/**
 * Model preparation: deterministic, content-addressed archives; Hugging Face cache lookup; the hub download path
 * against a local stand-in of the hub's HTTP API (huggingface.co is unreachable here); clear errors.
 */
import * as assert from "assert";
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { MlLambdaError } from "../components/errors";
import { modelObjectKey, prepareModel } from "../components/model";
import { TEST_EXPORT_PYTHON } from "./mocks";

const TINY = path.join(__dirname, "fixtures", "component", "tiny-model");
/** A real (untrained) 2-layer BERT: torch can load it, so the onnx backends can export it. */
const TINY_BERT = path.join(__dirname, "fixtures", "tiny-bert");
const REPO_CACHE = path.join(__dirname, "..", ".cache");
const REV = "0123456789abcdef0123456789abcdef01234567";

function tarList(archive: string): string[] {
    const r = spawnSync("python3", ["-c", `
import tarfile, sys, json
with tarfile.open(sys.argv[1]) as t:
    print(json.dumps([[m.name, m.type.decode(), m.mode, m.mtime, m.uid, m.uname] for m in t.getmembers()]))`, archive], { encoding: "utf8" });
    assert.strictEqual(r.status, 0, r.stderr);
    return JSON.parse(r.stdout);
}

function freePort(): Promise<number> {
    return new Promise((resolve) => {
        const s = net.createServer().listen(0, "127.0.0.1", () => {
            const port = (s.address() as net.AddressInfo).port;
            s.close(() => resolve(port));
        });
    });
}

describe("model preparation", function () {
    const env = { ...process.env };
    let tmp: string;
    beforeEach(() => {
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ml-model-"));
        // No real Hugging Face cache may answer for these tests.
        process.env.HF_HUB_CACHE = path.join(tmp, "empty-hf");
        process.env.HF_HOME = path.join(tmp, "empty-home");
        process.env.HOME = tmp;
    });
    afterEach(() => {
        process.env = { ...env };
        fs.rmSync(tmp, { recursive: true, force: true });
    });

    it("archives a local directory deterministically, files at the root, docs left out", () => {
        const a = prepareModel({ path: TINY, name: "tiny" }, path.join(tmp, "c1"));
        const b = prepareModel({ path: TINY, name: "tiny" }, path.join(tmp, "c2"));
        assert.strictEqual(a.sha256, b.sha256, "same files, same archive bytes");
        assert.strictEqual(fs.readFileSync(a.archive).compare(fs.readFileSync(b.archive)), 0);
        assert.deepStrictEqual(a.files, ["1_Pooling/config.json", "config.json", "model.safetensors", "modules.json"]);
        const entries = tarList(a.archive);
        assert.deepStrictEqual(entries.map((e) => e[0]), ["1_Pooling", "1_Pooling/config.json", "config.json", "model.safetensors", "modules.json"]);
        for (const [name, type, mode, mtime, uid, uname] of entries as unknown as Array<[string, string, number, number, number, string]>) {
            assert.ok(type === "0" || type === "5", `${name}: only files and dirs`);
            assert.strictEqual(mode, type === "5" ? 0o755 : 0o644);
            assert.deepStrictEqual([mtime, uid, uname], [0, 0, ""]);
        }
        assert.strictEqual(modelObjectKey(a), `models/tiny/${a.sha256}.tar.gz`);
        assert.ok(fs.existsSync(path.join(a.stagedDir, "model.safetensors")));
        assert.ok(!fs.existsSync(path.join(a.stagedDir, "README.md")));
    });

    it("a changed model is a new sha256 (and so a new S3 key)", () => {
        const copy = path.join(tmp, "model");
        fs.cpSync(TINY, copy, { recursive: true });
        const before = prepareModel({ path: copy, name: "m" }, path.join(tmp, "c"));
        fs.appendFileSync(path.join(copy, "config.json"), " ");
        const after = prepareModel({ path: copy, name: "m" }, path.join(tmp, "c"));
        assert.notStrictEqual(before.sha256, after.sha256);
        assert.notStrictEqual(modelObjectKey(before), modelObjectKey(after));
    });

    it("an edit that keeps a file's size is still seen (the hash memo is keyed by mtime too)", () => {
        const copy = path.join(tmp, "model");
        fs.cpSync(TINY, copy, { recursive: true });
        const cache = path.join(tmp, "c");
        const before = prepareModel({ path: copy, name: "m" }, cache);
        assert.ok(fs.existsSync(path.join(cache, "prepare-memo.json")), "the memo is written");
        const file = path.join(copy, "model.safetensors");
        const bytes = fs.readFileSync(file);
        bytes[0] ^= 0xff; // same length, different content
        fs.writeFileSync(file, bytes);
        fs.utimesSync(file, new Date(), new Date(Date.now() + 5000)); // as an editor saving later would
        const after = prepareModel({ path: copy, name: "m" }, cache);
        assert.notStrictEqual(after.sha256, before.sha256);
        assert.strictEqual(prepareModel({ path: copy, name: "m" }, cache).sha256, after.sha256);
    });

    it("finds a pinned revision in a Hugging Face cache (HF_HUB_CACHE) without any network", () => {
        const hub = path.join(tmp, "hf");
        const snap = path.join(hub, "models--acme--tiny", "snapshots", REV);
        fs.mkdirSync(path.dirname(snap), { recursive: true });
        fs.cpSync(TINY, snap, { recursive: true });
        process.env.HF_HUB_CACHE = hub;
        process.env.HF_ENDPOINT = "http://127.0.0.1:9"; // a download attempt would fail
        const m = prepareModel({ id: "acme/tiny", revision: REV }, path.join(tmp, "c"));
        assert.strictEqual(m.source, "hub-cache");
        assert.strictEqual(m.name, "tiny");
    });

    describe("download from the hub's HTTP API (local stand-in)", () => {
        let server: ChildProcess;
        let root: string;
        let endpoint: string;
        beforeEach(async () => {
            // The two endpoints the downloader uses, as static files: the revision's file list, and resolve/.
            root = path.join(tmp, "hub-site");
            const api = path.join(root, "api", "models", "acme", "tiny", "revision");
            fs.mkdirSync(api, { recursive: true });
            const files = ["config.json", "modules.json", "model.safetensors", "1_Pooling/config.json", "README.md", "onnx/model.onnx"];
            fs.writeFileSync(path.join(api, REV), JSON.stringify({ sha: REV, siblings: files.map((f) => ({ rfilename: f })) }));
            for (const f of files) {
                const dest = path.join(root, "acme", "tiny", "resolve", REV, f);
                fs.mkdirSync(path.dirname(dest), { recursive: true });
                const src = path.join(TINY, f);
                fs.writeFileSync(dest, fs.existsSync(src) ? fs.readFileSync(src) : `stand-in ${f}`);
            }
            const port = await freePort();
            endpoint = `http://127.0.0.1:${port}`;
            server = spawn("python3", ["-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", root], { stdio: "ignore" });
            for (let i = 0; i < 50; i++) {
                const ok = await new Promise<boolean>((r) => net.connect(port, "127.0.0.1").on("connect", function (this: net.Socket) { this.end(); r(true); }).on("error", () => r(false)));
                if (ok) break;
                await new Promise((r) => setTimeout(r, 100));
            }
            process.env.HF_ENDPOINT = endpoint;
        });
        afterEach(() => server.kill());

        it("downloads only the files sentence-transformers loads, then reuses the snapshot", () => {
            const cache = path.join(tmp, "c");
            const m = prepareModel({ id: "acme/tiny", revision: REV }, cache);
            assert.strictEqual(m.source, "hub-download");
            assert.deepStrictEqual(m.files, ["1_Pooling/config.json", "config.json", "model.safetensors", "modules.json"]);
            const snapshot = path.join(cache, "hub", "models--acme--tiny", "snapshots", REV);
            assert.ok(!fs.existsSync(path.join(snapshot, "onnx")), "other formats are not downloaded");
            assert.deepStrictEqual(fs.readdirSync(path.dirname(snapshot)), [REV], "no temporary download left behind");
            server.kill(); // from now on the hub is gone
            const again = prepareModel({ id: "acme/tiny", revision: REV }, cache);
            assert.strictEqual(again.source, "hub-cache");
            assert.strictEqual(again.sha256, m.sha256);
        });

        it("a failed download leaves nothing a later run would trust", () => {
            fs.rmSync(path.join(root, "acme", "tiny", "resolve", REV, "model.safetensors"));
            const cache = path.join(tmp, "c");
            assert.throws(() => prepareModel({ id: "acme/tiny", revision: REV }, cache), /downloading model\.safetensors .* failed .*404.*nothing was kept/);
            const snaps = path.join(cache, "hub", "models--acme--tiny", "snapshots");
            assert.deepStrictEqual(fs.existsSync(snaps) ? fs.readdirSync(snaps) : [], []);
        });
    });

    it("an unreachable hub is a user error naming the model and the ways out", () => {
        process.env.HF_ENDPOINT = "http://127.0.0.1:9";
        assert.throws(() => prepareModel({ id: "acme/tiny", revision: REV }, path.join(tmp, "c")), (e: unknown) => {
            assert.ok(e instanceof MlLambdaError);
            assert.match(e.message, /"model" = "acme\/tiny@0123/);
            assert.match(e.message, /huggingface-cli download acme\/tiny --revision 0123.*model\.path/);
            return true;
        });
    });

    it("a directory that is not a model is refused by model.path", () => {
        assert.throws(() => prepareModel({ path: tmp }, path.join(tmp, "c")), /"model\.path".*sentence-transformers model/);
    });

    describe("for the onnx backends (export at build time)", function () {
        // One export is ~5-10 s (importing torch dominates). Not the shared TEST_CACHE: these tests prove the export
        // runs, so they start from an empty cache of their own, shared between them to export each input once.
        this.timeout(300_000);
        let shared: string;
        before(() => { shared = fs.mkdtempSync(path.join(os.tmpdir(), "ml-onnx-")); });
        after(() => fs.rmSync(shared, { recursive: true, force: true }));

        it("ships model.onnx + tokenizer + configs + a manifest with measured parity, no torch weights; cached by content", () => {
            process.env.ML_LAMBDA_EXPORT_PYTHON = TEST_EXPORT_PYTHON;
            const cache = shared;
            const m = prepareModel({ path: TINY_BERT, name: "tiny-bert" }, cache, "onnx");
            assert.strictEqual(m.backend, "onnx");
            assert.ok(m.export && !m.export.cached && m.export.via === "ML_LAMBDA_EXPORT_PYTHON");
            assert.deepStrictEqual(m.files, ["1_Pooling/config.json", "config.json", "ml_lambda_onnx.json", "model.onnx", "modules.json",
                "sentence_bert_config.json", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt"]);
            assert.ok(m.export.parity.cosine_min >= 0.999 && m.export.parity.floor === 0.999);
            for (const p of ["torch", "transformers", "onnx", "onnxruntime"]) assert.match(m.export.packages[p], /^\d+\./, p);
            const manifest = JSON.parse(fs.readFileSync(path.join(m.stagedDir, "ml_lambda_onnx.json"), "utf8"));
            assert.strictEqual(manifest.backend, "onnx");
            assert.strictEqual(manifest.graph.opset, 17);
            assert.strictEqual(manifest.max_seq_length, 64);
            assert.ok(tarList(m.archive).some((e) => e[0] === "model.onnx"));

            const again = prepareModel({ path: TINY_BERT, name: "tiny-bert" }, cache, "onnx");
            assert.ok(again.export!.cached, "unchanged inputs: no second export");
            assert.strictEqual(again.sha256, m.sha256);
            assert.strictEqual(again.export!.key, m.export.key);

            // The torch artifact of the same model is the source files; the int8 export is another artifact.
            const torch = prepareModel({ path: TINY_BERT, name: "tiny-bert" }, cache);
            assert.ok(torch.files.includes("model.safetensors") && !torch.files.includes("model.onnx") && torch.export === null);
            const int8 = prepareModel({ path: TINY_BERT, name: "tiny-bert" }, cache, "onnx-int8");
            assert.notStrictEqual(int8.export!.key, m.export.key);
            assert.notStrictEqual(int8.sha256, m.sha256);
            assert.strictEqual(JSON.parse(fs.readFileSync(path.join(int8.stagedDir, "ml_lambda_onnx.json"), "utf8")).quantization.method, "dynamic");
        });

        it("a changed model file is a new export", () => {
            process.env.ML_LAMBDA_EXPORT_PYTHON = TEST_EXPORT_PYTHON;
            const copy = path.join(tmp, "model");
            fs.cpSync(TINY_BERT, copy, { recursive: true });
            const cache = shared;
            const before = prepareModel({ path: copy }, cache, "onnx");
            assert.ok(before.export!.cached, "same files as the fixture (another path): the export is found by content");
            fs.writeFileSync(path.join(copy, "sentence_bert_config.json"), JSON.stringify({ max_seq_length: 32, do_lower_case: false }));
            const after = prepareModel({ path: copy }, cache, "onnx");
            assert.ok(!after.export!.cached);
            assert.notStrictEqual(after.sha256, before.sha256);
        });

        it("an export Python without torch & co. is a user error naming what is missing and how to fix it", () => {
            process.env.ML_LAMBDA_EXPORT_PYTHON = "python3"; // the host's: no torch, no onnx
            assert.throws(() => prepareModel({ path: TINY_BERT }, path.join(tmp, "c"), "onnx"), (e: unknown) => {
                assert.ok(e instanceof MlLambdaError, String(e));
                assert.match(e.message, /"ML_LAMBDA_EXPORT_PYTHON" = "python3"/);
                assert.match(e.message, /missing: torch, transformers, sentence-transformers, onnx, onnxruntime/);
                assert.match(e.message, /requirements-export\.txt/);
                return true;
            });
        });

        it("a model the onnx backends cannot run is refused at build time, nothing cached", () => {
            process.env.ML_LAMBDA_EXPORT_PYTHON = TEST_EXPORT_PYTHON;
            const cache = path.join(tmp, "c");
            assert.throws(() => prepareModel({ path: TINY, name: "tiny" }, cache, "onnx"), (e: unknown) => {
                assert.ok(e instanceof MlLambdaError, String(e));
                assert.match(e.message, /"backend" = "onnx".*exporting the model to ONNX failed: sentence-transformers cannot load/);
                return true;
            });
            assert.deepStrictEqual(fs.readdirSync(path.join(cache, "onnx")), [], "no partial export left behind");
        });

        it("without ML_LAMBDA_EXPORT_PYTHON, creates its export environment once from the requirements file", () => {
            // A tiny requirements file stands in for python/requirements-export.txt (several GB): the environment is
            // created and reused, and, lacking torch, refused with the list of what is missing.
            delete process.env.ML_LAMBDA_EXPORT_PYTHON;
            process.env.PIP_CACHE_DIR = path.join(REPO_CACHE, "pip");
            const cache = path.join(tmp, "c");
            const reqs = path.join(__dirname, "fixtures", "requirements-tiny.txt");
            const lines: string[] = [];
            const run = () => assert.throws(() => prepareModel({ path: TINY_BERT }, cache, "onnx", { exportRequirements: reqs, log: (l) => lines.push(l) }), (e: unknown) => {
                assert.ok(e instanceof MlLambdaError, String(e));
                assert.match(e.limit, /missing: torch/);
                return true;
            });
            run();
            assert.ok(lines.some((l) => /creating the ONNX export environment/.test(l)), lines.join("\n"));
            const venvs = fs.readdirSync(path.join(cache, "export-venv")).filter((d) => !d.startsWith("."));
            assert.deepStrictEqual(venvs.length, 1, venvs.join(" "));
            assert.ok(fs.existsSync(path.join(cache, "export-venv", venvs[0], ".ml-lambda-ready")));
            lines.length = 0;
            run();
            assert.ok(!lines.some((l) => /creating the ONNX export environment/.test(l)), "reused, not recreated");
        });
    });
});
