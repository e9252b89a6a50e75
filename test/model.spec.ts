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

const TINY = path.join(__dirname, "fixtures", "component", "tiny-model");
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
});
