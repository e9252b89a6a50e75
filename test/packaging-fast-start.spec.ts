/**
 * The zip path's fast-start build (issue 10): the delivery decision (pure), omit lines, bytecode (reproducible,
 * unchecked-hash, named for where Lambda mounts it), the model's layer zip.
 */
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { LAYER_MODEL_DIR } from "../components/assets";
import { MlLambdaError } from "../components/errors";
import { MAX_LAYERS, UNZIPPED_LIMIT_BYTES } from "../components/limits";
import { modelLayer, modelLayerBytes, MODEL_LAYER_PREFIX } from "../components/model";
import { LayerBuild, measureDir, measureZip, readRequirements, readZipEntries } from "../components/packaging";
import { bytecodeCompiler, bytecodeLayerKey, compileArgs, compileEnv, compileTree, layerWithBytecode, stageCodeWithBytecode } from "../components/packaging/bytecode";
import { chooseDelivery, DELIVERY_OPTIONS, DeliveryInput } from "../components/packaging/delivery";
import { omissionPlan, omitDistributions, parseOmitLines } from "../components/packaging/omit";
import { validateModelDelivery } from "../components/validate";
import { tmpDir, writeFile } from "./packaging-helpers";

const AVAILABLE = UNZIPPED_LIMIT_BYTES - 5 * 1024 * 1024;

function input(over: Partial<DeliveryInput> = {}): DeliveryInput {
    return {
        codeBytes: 72_769, codeWithBytecodeBytes: 172_834, layerBytes: 141_144_906, layerWithBytecodeBytes: 151_842_439,
        externalLayerBytes: [], modelBytes: 91_088_164, forced: "auto", ...over,
    };
}

describe("fast start: the model's delivery and the bytecode (pure decision)", () => {
    it("takes the fastest measured option that fits: model layer + bytecode for the dev stack's sizes", () => {
        const d = chooseDelivery(input());
        assert.deepStrictEqual([d.model, d.bytecode], ["layer", true]);
        assert.strictEqual(d.totalBytes, 172_834 + 151_842_439 + 91_088_164);
        assert.strictEqual(d.layerCount, 2);
        assert.match(d.reasons[0], new RegExp(`in its own layer at ${LAYER_MODEL_DIR}.*with bytecode.*ms to first response as measured`));
        assert.deepStrictEqual(d.candidates.map((c) => c.fits), [true, true, true, true]);
    });

    it("the options are ordered by their measured time, fastest first", () => {
        const ms = DELIVERY_OPTIONS.map((o) => o.measuredMs);
        assert.deepStrictEqual(ms, [...ms].sort((a, b) => a - b));
        assert.deepStrictEqual(DELIVERY_OPTIONS.map((o) => `${o.model}/${o.bytecode}`), ["layer/true", "layer/false", "s3/true", "s3/false"]);
    });

    it("exactly the available bytes fits; one byte more drops bytecode first, then the model layer", () => {
        const base = input();
        const exact = AVAILABLE - (base.codeWithBytecodeBytes! + base.layerWithBytecodeBytes! + base.modelBytes);
        const at = chooseDelivery(input({ externalLayerBytes: [exact] }));
        assert.deepStrictEqual([at.model, at.bytecode, at.totalBytes], ["layer", true, AVAILABLE]);
        const over = chooseDelivery(input({ externalLayerBytes: [exact + 1] }));
        assert.deepStrictEqual([over.model, over.bytecode], ["layer", false]);
        assert.match(over.reasons[1], /^not "model in a layer \+ bytecode" \([\d,]+ ms\): code \+ layers \+ model = [\d,]+ bytes, 1 over the 256,901,120 available$/);
        // Too big for the model layer even without bytecode: S3 with bytecode, then S3 alone.
        const noLayer = chooseDelivery(input({ modelBytes: AVAILABLE }));
        assert.deepStrictEqual([noLayer.model, noLayer.bytecode], ["s3", true]);
        assert.strictEqual(noLayer.totalBytes, 172_834 + 151_842_439);
        const tight = AVAILABLE - (base.codeBytes + base.layerBytes);
        const s3only = chooseDelivery(input({ modelBytes: AVAILABLE, externalLayerBytes: [tight] }));
        assert.deepStrictEqual([s3only.model, s3only.bytecode, s3only.totalBytes], ["s3", false, AVAILABLE]);
    });

    it("counts the model's layer against the 5-layer limit", () => {
        const four = chooseDelivery(input({ externalLayerBytes: [1, 1, 1] }));
        assert.deepStrictEqual([four.model, four.layerCount], ["layer", 5]);
        const five = chooseDelivery(input({ externalLayerBytes: [1, 1, 1, 1] }));
        assert.deepStrictEqual([five.model, five.bytecode, five.layerCount], ["s3", true, MAX_LAYERS]);
        assert.match(five.reasons.join("\n"), /6 layers, Lambda allows 5/);
    });

    it("without bytecode (turned off, or no interpreter) only the options without it are taken, and the reason says why", () => {
        const d = chooseDelivery(input({ noBytecode: "no CPython 3.12 on this machine to compile it" }));
        assert.deepStrictEqual([d.model, d.bytecode], ["layer", false]);
        assert.strictEqual(d.totalBytes, 72_769 + 141_144_906 + 91_088_164);
        assert.match(d.reasons[1], /not "model in a layer \+ bytecode".*no CPython 3\.12/);
        const undefinedSizes = chooseDelivery(input({ codeWithBytecodeBytes: undefined, layerWithBytecodeBytes: undefined }));
        assert.strictEqual(undefinedSizes.bytecode, false);
    });

    it("forced s3 keeps the model in the bucket (with bytecode); forced layer takes the layer", () => {
        const s3 = chooseDelivery(input({ forced: "s3" }));
        assert.deepStrictEqual([s3.model, s3.bytecode], ["s3", true]);
        assert.match(s3.reasons.join("\n"), /modelDelivery is "s3"/);
        const layer = chooseDelivery(input({ forced: "layer", externalLayerBytes: [AVAILABLE - (72_769 + 141_144_906 + 91_088_164)] }));
        assert.deepStrictEqual([layer.model, layer.bytecode], ["layer", false]);
    });

    it("forced layer that cannot fit: an error naming the setting, the value, the bytes over, the limit and the fix", () => {
        assert.throws(() => chooseDelivery(input({ forced: "layer", modelBytes: 200_000_000 })), (e: unknown) => {
            assert.ok(e instanceof MlLambdaError);
            assert.strictEqual(e.setting, "modelDelivery");
            assert.strictEqual(e.value, "layer");
            assert.match(e.message, /the model \(200,000,000 bytes unzipped\) does not fit beside code \+ layers: 341,217,675 bytes with it, 84,316,555 over the 256,901,120 available \(limit 262,144,000 - headroom 5,242,880\)/);
            assert.match(e.message, /Fix: use modelDelivery "auto" or "s3".*onnx-int8/);
            return true;
        });
        assert.throws(() => chooseDelivery(input({ forced: "layer", externalLayerBytes: [1, 1, 1, 1] })), /6 layers with the model's, Lambda allows 5/);
    });

    it("refuses bad values and sizes", () => {
        assert.throws(() => validateModelDelivery("bucket"), /Invalid "modelDelivery" = "bucket": must be "auto", "layer" or "s3"/);
        assert.throws(() => chooseDelivery(input({ modelBytes: -1 })), /Invalid "modelBytes"/);
    });
});

describe("fast start: omit lines", () => {
    it("parses names (normalised) up to the first word that is not one, across lines", () => {
        assert.deepStrictEqual(parseOmitLines("six\n# ml-lambda:omit Huggingface_Hub\n#   ml-lambda:omit protobuf flatbuffers (onnxruntime's tools)\n# not ml-lambda:omit x\n"),
            ["huggingface-hub", "protobuf", "flatbuffers"]);
        assert.deepStrictEqual(parseOmitLines("# ml-lambda:omit\n"), []);
    });

    it("readRequirements carries them (and pip sees only comments)", () => {
        const dir = tmpDir("omit");
        writeFile(dir, "base.txt", "tokenizers==1\n# ml-lambda:omit huggingface-hub\n");
        writeFile(dir, "req.txt", "-r base.txt\nnumpy==2\n");
        const flat = readRequirements(path.join(dir, "req.txt"));
        assert.deepStrictEqual(flat.omit, ["huggingface-hub"]);
        assert.deepStrictEqual(flat.lines.map((l) => l.text), ["tokenizers==1", "numpy==2"]);
    });

    it("removes the omitted distribution and what only it pulled in; keeps what something else still needs", () => {
        const deps = {
            tokenizers: ["huggingface_hub"], huggingface_hub: ["PyYAML", "hf-xet", "packaging"], "hf-xet": [], PyYAML: [],
            onnxruntime: ["numpy", "packaging", "protobuf"], numpy: [], packaging: [], protobuf: [],
        };
        const plan = omissionPlan(deps, ["tokenizers", "onnxruntime", "numpy"], ["huggingface-hub", "protobuf"]);
        assert.deepStrictEqual([...plan.entries()].sort(), [["PyYAML", "huggingface_hub"], ["hf-xet", "huggingface_hub"], ["huggingface_hub", "omit line"], ["protobuf", "omit line"]]);
        // A distribution the file names itself (outside an omit line) stays even when only an omitted one needs it.
        const named = omissionPlan(deps, ["tokenizers", "onnxruntime", "pyyaml"], ["huggingface-hub"]);
        assert.ok(!named.has("PyYAML"));
        assert.strictEqual(omissionPlan(deps, [], []).size, 0);
    });

    it("omitDistributions deletes exactly their RECORD files and dist-info, and empty directories", () => {
        const site = tmpDir("omit-site");
        const dist = (name: string, files: Record<string, string>, requires: string[] = []) => {
            const di = `${name}-1.0.dist-info`;
            for (const [rel, c] of Object.entries(files)) writeFile(site, rel, c);
            writeFile(site, `${di}/METADATA`, `Metadata-Version: 2.1\nName: ${name}\nVersion: 1.0\n${requires.map((r) => `Requires-Dist: ${r}\n`).join("")}\n`);
            writeFile(site, `${di}/RECORD`, [...Object.keys(files), `${di}/METADATA`, `${di}/RECORD`, "../../bin/x"].map((r) => `${r},,`).join("\n") + "\n");
        };
        dist("tokenizers", { "tokenizers/__init__.py": "t" }, ["huggingface-hub>=0.16"]);
        dist("huggingface_hub", { "huggingface_hub/__init__.py": "hh", "huggingface_hub/sub/a.py": "a" }, ["pyyaml", "packaging"]);
        dist("PyYAML", { "yaml/__init__.py": "y", "_yaml/x.py": "x" });
        dist("packaging", { "packaging/__init__.py": "p" });
        dist("numpy", { "numpy/__init__.py": "n" }, ["packaging; extra == 'dev'"]);
        dist("onnxruntime", { "onnxruntime/__init__.py": "o" }, ["packaging", "numpy"]);
        const out = omitDistributions(site, ["huggingface-hub"], ["tokenizers", "onnxruntime", "numpy"]);
        assert.deepStrictEqual(out.map((o) => [o.name, o.reason]).sort(), [["PyYAML", "huggingface_hub"], ["huggingface_hub", "omit line"]]);
        // Its bytes are all its files (package and dist-info), as measured before removal.
        assert.ok(out.find((o) => o.name === "huggingface_hub")!.bytes > 3);
        assert.deepStrictEqual(fs.readdirSync(site).sort(), ["numpy", "numpy-1.0.dist-info", "onnxruntime", "onnxruntime-1.0.dist-info", "packaging", "packaging-1.0.dist-info", "tokenizers", "tokenizers-1.0.dist-info"]);
        assert.deepStrictEqual(omitDistributions(site, [], []), []);
    });
});

describe("fast start: bytecode", function () {
    const compiler = bytecodeCompiler("python3.12");
    before(function () {
        if (!compiler.ok) {
            console.log(`      (skipped: ${compiler.why})`);
            this.skip();
        }
    });
    const py = () => (compiler as { ok: true; python: import("../components/runtimePython").RuntimePython }).python;

    const SOURCES: Record<string, string> = {
        "pkg/__init__.py": "from pkg.mod import f\n",
        // A frozenset constant: marshalled in hash order, so the hash seed must be fixed for reproducible bytes.
        "pkg/mod.py": "def f(x):\n    return x in {'alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'eta', 'theta'}\n",
        "pkg/broken.py": "print 'python 2 only'\n",
        "top.py": "import pkg\n",
    };
    const tree = (root: string) => {
        for (const [rel, c] of Object.entries(SOURCES)) writeFile(root, rel, c);
        return root;
    };

    it("the compile command: the runtime's Python, unchecked-hash, -s/-p to the mount point, a fixed hash seed, no PYTHON* variables", () => {
        assert.deepStrictEqual(compileArgs("/b/layer", "/opt"), ["-s", "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", "-s", "/b/layer", "-p", "/opt", "/b/layer"]);
        assert.deepStrictEqual(Object.keys(compileEnv({ PATH: "/x", PYTHONPATH: "/evil", PYTHONHASHSEED: "random" })).sort(), ["LC_ALL", "PATH", "PYTHONHASHSEED"]);
        assert.strictEqual(compileEnv({}).PYTHONHASHSEED, "0");
    });

    it("writes unchecked-hash .pyc files named for where Lambda mounts the tree; a refused source stays source", () => {
        const dir = tree(tmpDir("pyc"));
        const r = compileTree(dir, "/opt/python", py());
        assert.deepStrictEqual(r.failed, ["pkg/broken.py"]);
        assert.strictEqual(r.pycFiles, 3);
        const tag = `cpython-${py().version.split(".").slice(0, 2).join("")}`;
        const pyc = fs.readFileSync(path.join(dir, "pkg", "__pycache__", `mod.${tag}.pyc`));
        // PEP 552 header: magic, flags (bit 0 hash-based, bit 1 check_source: 0b01 = unchecked hash), source hash.
        assert.strictEqual(pyc.readUInt32LE(4), 0b01);
        const filename = spawnSync(py().executable, ["-c", "import marshal,sys; d=open(sys.argv[1],'rb').read(); print(marshal.loads(d[16:]).co_filename)", path.join(dir, "pkg", "__pycache__", `mod.${tag}.pyc`)], { encoding: "utf8" });
        assert.strictEqual(filename.stdout.trim(), "/opt/python/pkg/mod.py");
    });

    it("two builds of the same sources are byte-identical (the layer's bytecode variant, zip and all), wherever and whenever they are built", () => {
        const baseAt = (dir: string, mtime: Date): LayerBuild => {
            tree(path.join(dir, "python"));
            for (const rel of Object.keys(SOURCES)) fs.utimesSync(path.join(dir, "python", rel), mtime, mtime);
            return {
                key: "f".repeat(64), dir, zipPath: "/nonexistent-but-set.zip", zipBytes: 1, zipSha256: "x", measurement: measureDir(dir),
                missingWheels: [], installerErrors: [], cacheHit: true, platforms: [], installer: "pip test", buildMs: 0, weights: [],
            };
        };
        // Other build directories, other source mtimes: neither may reach the bytes (unchecked-hash, -s/-p).
        const baseA = baseAt(tmpDir("pyc-base-a"), new Date("2020-01-01T00:00:00Z"));
        const baseB = baseAt(path.join(tmpDir("pyc-base-b"), "deeper", "dir"), new Date("2026-06-30T12:34:56Z"));
        const a = layerWithBytecode(baseA, py(), tmpDir("pyc-cache-a"), () => undefined);
        const b = layerWithBytecode(baseB, py(), tmpDir("pyc-cache-b"), () => undefined);
        assert.strictEqual(a.key, bytecodeLayerKey(baseA.key, py()));
        assert.strictEqual(a.zipSha256, b.zipSha256);
        assert.ok(fs.readFileSync(a.zipPath).equals(fs.readFileSync(b.zipPath)));
        assert.deepStrictEqual(readZipEntries(a.zipPath).map((e) => e.name).filter((n) => n.endsWith(".pyc")).length, 3);
        assert.strictEqual(a.bytecode?.mountedAt, "/opt");
        assert.strictEqual(a.measurement.unzippedBytes, baseA.measurement.unzippedBytes + a.bytecode!.pycBytes);
        // The base entry's tree is untouched (hard links, compiled into the copy).
        assert.ok(!fs.existsSync(path.join(baseA.dir, "python", "pkg", "__pycache__")));
        // Its .pyc files are counted with the package that owns the source.
        assert.ok(!a.measurement.packages.some((p) => p.name === "__pycache__"));
        // The key follows the compiler's version.
        assert.notStrictEqual(bytecodeLayerKey(baseA.key, { version: "3.12.99" }), a.key);
    });

    it("the code's variant holds what the code zip holds, plus bytecode for /var/task", () => {
        const handler = tmpDir("pyc-code");
        writeFile(handler, "app/handler.py", "def h(e, c):\n    return 1\n");
        writeFile(handler, "app/__pycache__/stale.cpython-311.pyc", "stale");
        writeFile(handler, "tests/test_x.py", "x = 1\n");
        const stage = path.join(tmpDir("pyc-stage"), "s");
        const r = stageCodeWithBytecode(handler, ["__pycache__", "*.pyc", "tests"], stage, py());
        assert.strictEqual(r.pycFiles, 1);
        const files = fs.readdirSync(path.join(stage, "app", "__pycache__"));
        assert.deepStrictEqual(files, [`handler.cpython-${py().version.split(".").slice(0, 2).join("")}.pyc`]);
        assert.ok(!fs.existsSync(path.join(stage, "tests")));
    });
});

describe("fast start: the model's layer", () => {
    it("zips the prepared model's files under ml/model/ (so /opt/ml/model), measured as Lambda counts them, cached by content", () => {
        const root = tmpDir("model-layer");
        const staged = path.join(root, "abc123.dir");
        writeFile(staged, "model.onnx", Buffer.alloc(5000, 7));
        writeFile(staged, "tokenizer.json", "{}");
        assert.strictEqual(MODEL_LAYER_PREFIX, "ml/model");
        const a = modelLayer({ stagedDir: staged });
        assert.deepStrictEqual(readZipEntries(a.zipPath).filter((e) => !e.isDirectory).map((e) => e.name), ["ml/model/model.onnx", "ml/model/tokenizer.json"]);
        assert.strictEqual(a.unzippedBytes, 5002);
        assert.strictEqual(modelLayerBytes({ stagedDir: staged }), 5002);
        assert.strictEqual(measureZip(a.zipPath).unzippedBytes, 5002);
        assert.strictEqual(path.dirname(a.zipPath), root);
        const mtime = fs.statSync(a.zipPath).mtimeMs;
        const again = modelLayer({ stagedDir: staged });
        assert.deepStrictEqual(again, a);
        assert.strictEqual(fs.statSync(a.zipPath).mtimeMs, mtime, "reused, not rebuilt");
    });
});
