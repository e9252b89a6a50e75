/**
 * pyproject.toml + uv.lock as the dependency source. Pure decisions first (what a path is, uv's verdicts, the
 * command lines, requires-python against the runtime), then real projects: uv (pinned, from PyPI) checks and
 * exports the committed fixture locks, pip builds the pins from PyPI for the Lambda platform, and the component
 * takes them on both paths under the mock engine.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { MlLambdaArgs } from "../components/args";
import { MlLambdaError } from "../components/errors";
import { MlLambda } from "../components/mlLambda";
import { buildLayer } from "../components/packaging";
import { parseDirectLines, parseOmitLines } from "../components/packaging/omit";
import {
    classifyLockCheck,
    EXPORT_SCOPE,
    localPackages,
    lockRegistries,
    omitDirectives,
    readToolTable,
    uvDirectDependencies,
    lockRequiresPython,
    pinnedLines,
    pinnedRequirements,
    pythonSatisfies,
    uvExportArgs,
    uvLockCheckArgs,
    uvPythonCandidates,
} from "../components/packaging/lock";
import { normalizeArgs, requirementsSource, RESOLVE_UNLOCKED_ENV } from "../components/validate";
import { settle, startMocks, TEST_CACHE, value } from "./mocks";
import { FIXTURES, tmpDir } from "./packaging-helpers";

const PROJECT = path.join(FIXTURES, "uv-project");
const COMPONENT = path.join(FIXTURES, "component");

function expectError(fn: () => unknown, setting: string, ...texts: RegExp[]): MlLambdaError {
    try {
        fn();
    } catch (e) {
        assert.ok(e instanceof MlLambdaError, `expected MlLambdaError, got ${e}`);
        assert.strictEqual(e.setting, setting, e.message);
        assert.match(e.message, /Fix: /);
        for (const t of texts) assert.match(e.message, t);
        return e;
    }
    assert.fail(`expected an error naming ${setting}`);
}

/** A copy of a fixture project in a temporary directory, so a test can change it. */
function copyProject(from = PROJECT): string {
    const dir = path.join(tmpDir("uvproj"), "fn");
    fs.cpSync(from, dir, { recursive: true });
    return dir;
}

/**
 * A build cache of its own (so "rebuilt" and "cache hit" are about this test's entries), sharing the pinned tool
 * venv and the download caches with the rest of the suite.
 */
function freshCache(): string {
    const dir = tmpDir("lockcache");
    for (const shared of ["tools", "pip", "uv"]) {
        fs.mkdirSync(path.join(TEST_CACHE, shared), { recursive: true });
        fs.symlinkSync(path.join(TEST_CACHE, shared), path.join(dir, shared));
    }
    return dir;
}

const distInfos = (layerDir: string) => fs.readdirSync(path.join(layerDir, "python")).filter((f) => f.endsWith(".dist-info")).sort();

describe("uv projects: pure decisions", () => {
    describe("requirementsSource: what `requirements` points at", () => {
        const files = new Set(["/p/requirements.txt", "/p/pyproject.toml", "/p/uv.lock", "/q/pyproject.toml", "/r/uv.lock"]);
        const exists = (p: string) => files.has(p);

        it("a requirements file is built as written; pyproject.toml or uv.lock with both present is the locked project", () => {
            assert.deepStrictEqual(requirementsSource("/p/requirements.txt", { exists }), { kind: "requirements", file: "/p/requirements.txt" });
            const locked = { kind: "uv.lock", projectDir: "/p", pyproject: "/p/pyproject.toml", lock: "/p/uv.lock" };
            assert.deepStrictEqual(requirementsSource("/p/pyproject.toml", { exists }), locked);
            assert.deepStrictEqual(requirementsSource("/p/uv.lock", { exists }), locked);
        });

        it("a pyproject.toml without uv.lock is refused, naming the fix and the opt-in", () => {
            expectError(() => requirementsSource("/q/pyproject.toml", { exists, resolveUnlocked: false }), "requirements",
                /"\/q\/pyproject.toml"/, /no uv\.lock beside it/, /Fix: run `uv lock` in \/q and commit uv\.lock; or set ML_LAMBDA_RESOLVE_UNLOCKED=1/);
        });

        it("…unless ML_LAMBDA_RESOLVE_UNLOCKED opts in to resolving it at deploy time", () => {
            assert.deepStrictEqual(requirementsSource("/q/pyproject.toml", { exists, resolveUnlocked: true }), { kind: "pyproject", projectDir: "/q", pyproject: "/q/pyproject.toml" });
            const before = process.env[RESOLVE_UNLOCKED_ENV];
            try {
                process.env[RESOLVE_UNLOCKED_ENV] = "1";
                assert.strictEqual(requirementsSource("/q/pyproject.toml", { exists }).kind, "pyproject");
                process.env[RESOLVE_UNLOCKED_ENV] = "0";
                assert.throws(() => requirementsSource("/q/pyproject.toml", { exists }), MlLambdaError);
            } finally {
                if (before === undefined) delete process.env[RESOLVE_UNLOCKED_ENV];
                else process.env[RESOLVE_UNLOCKED_ENV] = before;
            }
        });

        it("a uv.lock without its pyproject.toml is refused (uv checks a lock against it)", () => {
            expectError(() => requirementsSource("/r/uv.lock", { exists }), "requirements", /no pyproject\.toml beside it|there is none beside it/);
        });

        it("a missing file is refused", () => {
            expectError(() => requirementsSource("/nowhere/pyproject.toml", { exists }), "requirements", /must be an existing file/);
        });

        it("the gate runs it: normalizeArgs refuses an unlocked pyproject before any build", () => {
            const dir = copyProject();
            fs.rmSync(path.join(dir, "uv.lock"));
            expectError(() => normalizeArgs("embed", {
                handlerDir: path.join(COMPONENT, "handler"), model: { path: path.join(COMPONENT, "tiny-model") }, requirements: path.join(dir, "pyproject.toml"),
            }, { project: "p", stack: "s" }), "requirements", /no uv\.lock beside it/);
        });
    });

    describe("uv's verdicts (verbatim uv 0.13.9 output)", () => {
        const STALE_OFFLINE = "Using CPython 3.12.1 interpreter at: /root/.pyenv/versions/3.12.1/bin/python\nerror: No solution found when resolving dependencies\n  cause: Because packaging was not found in the cache and your project depends on packaging>=24, we can conclude that your project's requirements are unsatisfiable.\n\nhint: Packages were unavailable because the network was disabled. When the network is disabled, registry packages may only be read from the cache.\n";
        const STALE_ONLINE = "Using CPython 3.12.1 interpreter at: /root/.pyenv/versions/3.12.1/bin/python\nResolved 4 packages in 170ms\nerror: The lockfile at `uv.lock` needs to be updated, but `--check` was provided.\n\nhint: To update the lockfile, run `uv lock`.\n";
        const WRONG_PYTHON = "Using CPython 3.11.7 interpreter at: /root/.pyenv/versions/3.11.7/bin/python3\nerror: The requested interpreter resolved to Python 3.11.7, which is incompatible with the project's Python requirement: `>=3.12` (from `project.requires-python`)\n";
        const BROKEN_SHIM = "error: Failed to inspect Python interpreter from search path at `/root/.pyenv/shims/python3.12`\n  cause: Querying Python at `/root/.pyenv/shims/python3.12` failed with exit status exit status: 127\n";
        const table: Array<[string, number, string, boolean, string]> = [
            ["a matching lock", 0, "Resolved 3 packages in 4ms\n", true, "fresh"],
            ["a stale lock, offline (uv tried to resolve without the network)", 1, STALE_OFFLINE, true, "undecided"],
            ["a stale lock, online", 1, STALE_ONLINE, false, "stale"],
            ["an interpreter outside requires-python", 2, WRONG_PYTHON, true, "no-python"],
            ["a broken pyenv shim", 2, BROKEN_SHIM, true, "no-python"],
            ["anything else online", 2, "error: Failed to parse `pyproject.toml`\n", false, "error"],
        ];
        for (const [what, status, out, offline, verdict] of table) {
            it(`${what} → ${verdict}`, () => assert.strictEqual(classifyLockCheck(status, out, offline), verdict));
        }
    });

    it("the command lines: export frozen, no hashes, no groups, no project, no header; index URLs only when asked", () => {
        assert.deepStrictEqual(uvExportArgs({ emitIndexUrl: false }),
            ["export", "--frozen", "--format", "requirements.txt", "--no-default-groups", "--no-hashes", "--no-emit-project", "--no-header"]);
        assert.deepStrictEqual(uvExportArgs({ emitIndexUrl: true }).slice(-1), ["--emit-index-url"]);
        assert.deepStrictEqual(uvLockCheckArgs("/py", true), ["lock", "--check", "--python", "/py", "--offline"]);
        assert.deepStrictEqual(uvLockCheckArgs("/py", false), ["lock", "--check", "--python", "/py"]);
    });

    it("registries: the fixture lock is PyPI only; a lock with the PyTorch CPU index needs the index URLs exported", () => {
        assert.deepStrictEqual(lockRegistries(fs.readFileSync(path.join(PROJECT, "uv.lock"), "utf8")), ["https://pypi.org/simple"]);
        const torch = '[[package]]\nname = "torch"\nversion = "2.9.1+cpu"\nsource = { registry = "https://download.pytorch.org/whl/cpu/" }\n';
        assert.deepStrictEqual(lockRegistries(torch), ["https://download.pytorch.org/whl/cpu"]);
    });

    it("local packages in an export are found; pins and options are not", () => {
        const text = "./libx\n    # via fn\n-e ../shared\nsix==1.17.0\n    # via fn\n--index-url https://pypi.org/simple\nfile:///wheels/x.whl\n";
        assert.deepStrictEqual(localPackages(text), ["./libx", "-e ../shared", "file:///wheels/x.whl"]);
        assert.deepStrictEqual(pinnedLines(text), ["./libx", "six==1.17.0", "file:///wheels/x.whl"]);
    });

    it("requires-python against the runtime's Python (any patch Lambda runs)", () => {
        assert.strictEqual(lockRequiresPython(fs.readFileSync(path.join(PROJECT, "uv.lock"), "utf8")), ">=3.11");
        const table: Array<[string, string, boolean]> = [
            ["3.12", ">=3.11", true], ["3.12", ">=3.12", true], ["3.12", ">=3.12.4", true], ["3.12", ">=3.13", false],
            ["3.12", ">3.12", true], ["3.12", ">3.12.99", true], ["3.12", ">=3.10, <3.12", false], ["3.12", "<3.13", true],
            ["3.12", "<=3.11.9", false], ["3.12", "<=3.12", true], ["3.13", "==3.12.*", false], ["3.12", "==3.12.*", true],
            ["3.12", "==3.*", true], ["3.12", "!=3.12.*", false], ["3.12", "!=3.11.*", true], ["3.12", "~=3.11", true],
            ["3.12", "~=3.11.2", false], ["3.11", "~=3.11.2", true], ["3.14", ">=3.9,<4", true], ["3.12", "==3.12", true],
        ];
        for (const [v, spec, ok] of table) assert.strictEqual(pythonSatisfies(v, spec), ok, `${v} in "${spec}"`);
    });

    it("interpreters for uv: ML_LAMBDA_PYTHON, pyenv's builds of the runtime's version (newest first), uv's own search, python3", () => {
        const list = (d: string) => (d === "/home/u/.pyenv/versions" ? ["3.11.7", "3.12.1", "3.12.10", "3.13.0", "3.12.3", "3.12-dev"] : []);
        // PATH without pyenv: its roots are PYENV_ROOT (unset here) and ~/.pyenv.
        assert.deepStrictEqual(uvPythonCandidates("python3.12", { HOME: "/home/u", PATH: "/nonexistent", ML_LAMBDA_PYTHON: "/opt/py/bin/python3" }, list), [
            "/opt/py/bin/python3", "/home/u/.pyenv/versions/3.12.10/bin/python3.12", "/home/u/.pyenv/versions/3.12.3/bin/python3.12",
            "/home/u/.pyenv/versions/3.12.1/bin/python3.12", "3.12", "python3",
        ]);
        assert.deepStrictEqual(uvPythonCandidates("python3.13", { PYENV_ROOT: "/pe" }, () => []), ["3.13", "python3"]);
    });
});

// Verbatim shape of `uv export` 0.13.9 with annotations (test/fixtures/uv-onnx's lock, shortened).
const ANNOTATED_EXPORT = [
    "aws-lambda-powertools==3.37.0",
    "    # via embed-fn",
    "hf-xet==1.8.0 ; platform_machine == 'x86_64'",
    "    # via huggingface-hub",
    "huggingface-hub==2.4.0",
    "    # via tokenizers",
    "numpy==2.3.5",
    "    # via",
    "    #   embed-fn",
    "    #   onnxruntime",
    "onnxruntime==1.32.0",
    "    # via embed-fn",
    "packaging==26.4",
    "    # via",
    "    #   huggingface-hub",
    "    #   onnxruntime",
    "tokenizers==0.23.3",
    "    # via embed-fn",
    "",
].join("\n");

describe("uv projects: [tool.ml-lambda] omit", () => {
    it("the project's direct dependencies come from uv's annotations, one-line and multi-line", () => {
        assert.deepStrictEqual(uvDirectDependencies(ANNOTATED_EXPORT, "Embed_Fn"), ["aws-lambda-powertools", "numpy", "onnxruntime", "tokenizers"]);
        assert.deepStrictEqual(uvDirectDependencies(ANNOTATED_EXPORT, "other"), []);
    });

    it("the export gets an omit line and the roots the omission keeps, which the layer build reads", () => {
        const lines = omitDirectives({ project: "embed-fn", omit: ["huggingface-hub", "packaging"] }, pinnedLines(ANNOTATED_EXPORT), ANNOTATED_EXPORT, "p/pyproject.toml");
        assert.deepStrictEqual(parseOmitLines(lines), ["huggingface-hub", "packaging"]);
        assert.deepStrictEqual(parseDirectLines(lines), ["aws-lambda-powertools", "numpy", "onnxruntime", "tokenizers"]);
        assert.strictEqual(parseDirectLines(ANNOTATED_EXPORT), undefined, "a file without the line names every pin as wanted");
        assert.strictEqual(omitDirectives({ project: "embed-fn", omit: [] }, pinnedLines(ANNOTATED_EXPORT), ANNOTATED_EXPORT, "p"), "");
    });

    it("a name the lock does not pin is refused, listing what it pins", () => {
        expectError(() => omitDirectives({ project: "embed-fn", omit: ["huggingface-hub", "protobuff"] }, pinnedLines(ANNOTATED_EXPORT), ANNOTATED_EXPORT, "p/pyproject.toml"),
            "requirements", /"protobuff" is not pinned by the lock \(it pins aws-lambda-powertools, hf-xet, huggingface-hub,/, /check the spelling/);
    });

    it("no table: no Python runs (a broken ML_LAMBDA_PYTHON is never called)", () => {
        const saved = process.env.ML_LAMBDA_PYTHON;
        process.env.ML_LAMBDA_PYTHON = "/nonexistent/python3";
        try {
            assert.strictEqual(readToolTable("p/pyproject.toml", '[project]\nname = "x"\n[tool.uv]\nx = 1\n'), undefined);
        } finally {
            if (saved === undefined) delete process.env.ML_LAMBDA_PYTHON;
            else process.env.ML_LAMBDA_PYTHON = saved;
        }
    });

    it("the table is read with tomllib and checked: names normalised, unknown keys and non-lists refused", () => {
        const dir = tmpDir("tooltable");
        const write = (body: string) => {
            const f = path.join(dir, "pyproject.toml");
            fs.writeFileSync(f, `[project]\nname = "embed-fn"\nversion = "0.1.0"\n\n[tool.ml-lambda]\n${body}\n`);
            return f;
        };
        assert.deepStrictEqual(readToolTable(write('omit = ["HuggingFace_Hub", "protobuf", "protobuf"]')), { project: "embed-fn", omit: ["huggingface-hub", "protobuf"] });
        expectError(() => readToolTable(write('omit = ["protobuf"]\nkeep = ["x"]')), "requirements", /unknown key\(s\) "keep": the table takes "omit" only/);
        expectError(() => readToolTable(write('omit = "protobuf"')), "requirements", /omit = .*protobuf/, /must be a list of distribution names/);
        expectError(() => readToolTable(write("omit = [")), "requirements", /needs Python 3\.11\+ \(tomllib\)/, /fix the TOML/);
    });
});

describe("uv projects: real locks, real builds (uv and pip from PyPI)", function () {
    this.timeout(600_000);

    it("exports the lock's pins (six 1.16.0 as locked, not today's newest; no extra, no dev group), then hits the cache", () => {
        const cacheDir = freshCache();
        const lines: string[] = [];
        const first = pinnedRequirements({ requirements: path.join(PROJECT, "pyproject.toml"), runtime: "python3.12", cacheDir, log: (l) => lines.push(l) });
        assert.strictEqual(first.source, "uv.lock");
        assert.strictEqual(first.cacheHit, false);
        assert.deepStrictEqual(first.pins, ["markupsafe==3.0.4", "six==1.16.0"]);
        const text = fs.readFileSync(first.file, "utf8");
        assert.doesNotMatch(text, /iniconfig|idna/, "the dev group and the extra stay out");
        assert.ok(!pinnedLines(text).some((l) => /embed-fn|^-e|^\./.test(l)), "the project itself stays out (its code is handlerDir)");
        assert.ok(!text.includes(PROJECT) && !text.includes(cacheDir), "no machine path in what the image context stages");
        assert.match(text, new RegExp(`^# 2 pins exported by ml-lambda with uv [0-9.]+ from uv\\.lock \\(sha256 [0-9a-f]{16}\\): ${EXPORT_SCOPE.replace(/[[\]().]/g, "\\$&")}`));
        assert.ok(lines.some((l) => /checking .*uv\.lock against pyproject\.toml with uv .* \(offline first\)/.test(l)), lines.join("\n"));
        assert.ok(lines.some((l) => /2 pinned from the lock in [0-9.]+ s/.test(l)), lines.join("\n"));
        console.log(`      uv lock --check + export (cold entry, warm tool venv): ${first.ms} ms`);

        // Unchanged project, named by its uv.lock this time: the same entry, no uv run.
        const again = pinnedRequirements({ requirements: path.join(PROJECT, "uv.lock"), runtime: "python3.12", cacheDir, log: (l) => lines.push(l) });
        assert.strictEqual(again.cacheHit, true);
        assert.strictEqual(again.file, first.file);
        assert.match(lines[lines.length - 1], /cache hit [0-9a-f]{12} \(no uv run\), 2 pinned/);
    });

    it("builds the locked versions for Lambda; a changed lock rebuilds, an unchanged one is a cache hit", () => {
        const cacheDir = freshCache();
        const build = (requirements: string) => {
            const pinned = pinnedRequirements({ requirements, runtime: "python3.12", cacheDir, log: () => undefined });
            return buildLayer({ requirements: pinned.file, runtime: "python3.12", architecture: "x86_64", cacheDir, quiet: true, log: () => undefined });
        };
        const a = build(path.join(PROJECT, "pyproject.toml"));
        assert.strictEqual(a.cacheHit, false);
        assert.deepStrictEqual(distInfos(a.dir), ["markupsafe-3.0.4.dist-info", "six-1.16.0.dist-info"]);
        const so = fs.readdirSync(path.join(a.dir, "python", "markupsafe")).filter((f) => f.endsWith(".so"));
        assert.ok(so.some((f) => f.includes("cpython-312-x86_64-linux-gnu")), `markupsafe's compiled speedups for cp312 x86_64: ${so}`);
        assert.strictEqual(a.missingWheels.length, 0);
        console.log(`      layer from the lock: ${a.measurement.unzippedBytes} bytes unzipped, built in ${a.buildMs} ms`);

        assert.strictEqual(build(path.join(PROJECT, "pyproject.toml")).cacheHit, true, "unchanged lock: cache hit");

        const relocked = copyProject();
        fs.copyFileSync(path.join(relocked, "uv.lock.six-1.17.0"), path.join(relocked, "uv.lock"));
        const b = build(path.join(relocked, "uv.lock"));
        assert.notStrictEqual(b.key, a.key);
        assert.strictEqual(b.cacheHit, false, "changed lock: rebuilt");
        assert.deepStrictEqual(distInfos(b.dir), ["markupsafe-3.0.4.dist-info", "six-1.17.0.dist-info"]);
        // The same pins from another directory are the same layer (the key is the pinned lines, not the path).
        const moved = copyProject();
        assert.strictEqual(build(path.join(moved, "pyproject.toml")).key, a.key);
    });

    it("[tool.ml-lambda] omit: the lock stays fresh for uv, the export carries the omit line, the layer leaves the name out", () => {
        const dir = copyProject();
        const file = path.join(dir, "pyproject.toml");
        fs.appendFileSync(file, '\n[tool.ml-lambda]\nomit = ["six"]\n');
        const cacheDir = freshCache();
        const pinned = pinnedRequirements({ requirements: file, runtime: "python3.12", cacheDir, log: () => undefined });
        assert.deepStrictEqual(pinned.pins, ["markupsafe==3.0.4", "six==1.16.0"], "uv still installs and checks everything");
        const text = fs.readFileSync(pinned.file, "utf8");
        assert.deepStrictEqual([parseOmitLines(text), parseDirectLines(text)], [["six"], ["markupsafe", "six"]]);
        const layer = buildLayer({ requirements: pinned.file, runtime: "python3.12", architecture: "x86_64", cacheDir, quiet: true, log: () => undefined });
        assert.deepStrictEqual(distInfos(layer.dir), ["markupsafe-3.0.4.dist-info"]);
        assert.deepStrictEqual(layer.omitted?.map((o) => [o.name, o.reason]), [["six", "omit line"]]);
    });

    describe("a stale lock is refused by name, with the fix", () => {
        const stale: Array<[string, (pyproject: string) => string]> = [
            ["a dependency added to pyproject.toml", (t) => t.replace('"markupsafe>=2.1"]', '"markupsafe>=2.1", "idna"]')],
            ["a requirement tightened past the locked version", (t) => t.replace('"six>=1.10"', '"six>=1.17"')],
        ];
        for (const [what, change] of stale) {
            it(what, () => {
                const dir = copyProject();
                const file = path.join(dir, "pyproject.toml");
                fs.writeFileSync(file, change(fs.readFileSync(file, "utf8")));
                expectError(() => pinnedRequirements({ requirements: file, runtime: "python3.12", cacheDir: freshCache(), log: () => undefined }),
                    "requirements", /uv\.lock does not match .*pyproject\.toml/, /needs to be updated/, /Fix: run `uv lock` in .* and commit the updated uv\.lock/);
            });
        }
    });

    it("a runtime outside the lock's requires-python is refused before uv runs", () => {
        const dir = copyProject();
        const lock = path.join(dir, "uv.lock");
        fs.writeFileSync(lock, fs.readFileSync(lock, "utf8").replace('requires-python = ">=3.11"', 'requires-python = ">=3.13"'));
        expectError(() => pinnedRequirements({ requirements: lock, runtime: "python3.12", cacheDir: tmpDir("nouv"), log: () => undefined }),
            "runtime", /"python3\.12"/, /requires-python ">=3\.13", which excludes Python 3\.12/);
    });

    it("a lock pinning a local package is refused: layers are built from wheels", () => {
        expectError(() => pinnedRequirements({ requirements: path.join(FIXTURES, "uv-project-local", "pyproject.toml"), runtime: "python3.12", cacheDir: freshCache(), log: () => undefined }),
            "requirements", /local package\(s\) "\.\/libx"/, /Fix: publish them as wheels/);
    });

    it(`no lock + ${RESOLVE_UNLOCKED_ENV}=1: resolved into the cache (the project is not written to), then built like a lock`, () => {
        const dir = copyProject();
        fs.rmSync(path.join(dir, "uv.lock"));
        fs.rmSync(path.join(dir, "uv.lock.six-1.17.0"));
        const before = process.env[RESOLVE_UNLOCKED_ENV];
        process.env[RESOLVE_UNLOCKED_ENV] = "1";
        try {
            const lines: string[] = [];
            const r = pinnedRequirements({ requirements: path.join(dir, "pyproject.toml"), runtime: "python3.12", cacheDir: freshCache(), log: (l) => lines.push(l) });
            assert.strictEqual(r.source, "pyproject");
            assert.deepStrictEqual(r.pins!.map((p) => p.split("==")[0]), ["markupsafe", "six"]);
            assert.ok(r.pins!.every((p) => /==\d/.test(p)), "pinned");
            assert.deepStrictEqual(fs.readdirSync(dir).sort(), ["pyproject.toml"], "nothing written into the user's project");
            assert.ok(fs.existsSync(path.join(path.dirname(r.file), "uv.lock")), "the resolved lock is kept beside the export");
            assert.ok(lines.some((l) => /versions may differ from one deploy to the next/.test(l)), lines.join("\n"));
        } finally {
            if (before === undefined) delete process.env[RESOLVE_UNLOCKED_ENV];
            else process.env[RESOLVE_UNLOCKED_ENV] = before;
        }
    });

    describe("the component takes the lock on both paths (mock engine)", () => {
        const args = (extra: Partial<MlLambdaArgs>): MlLambdaArgs => ({
            handlerDir: path.join(COMPONENT, "handler"),
            dockerfile: path.join(COMPONENT, "Dockerfile"),
            model: { path: path.join(COMPONENT, "tiny-model"), name: "tiny" },
            // The tiny stand-in model has no ONNX graph: the default onnx backend would have to export one.
            backend: "torch",
            cacheDir: TEST_CACHE,
            requirements: path.join(PROJECT, "pyproject.toml"),
            ...extra,
        });

        it("zip: the dependency layer is the locked set", async () => {
            const m = await startMocks();
            const c = new MlLambda("locked", args({ packaging: "auto" }));
            await settle(c.functionArn, c.sizeReport);
            assert.strictEqual(c.plan.requirements.source, "uv.lock");
            assert.strictEqual(await value(c.packaging), "zip");
            assert.deepStrictEqual(distInfos(c.plan.layer!.dir), ["markupsafe-3.0.4.dist-info", "six-1.16.0.dist-info"]);
            assert.deepStrictEqual(c.plan.packages.map((p) => p.name.toLowerCase()).sort(), ["markupsafe", "six"]);
            assert.match(m.byType("aws:lambda/layerVersion:LayerVersion").find((l) => l.inputs.layerName.endsWith("-deps"))!.inputs.description, /pyproject\.toml/);
        });

        it("image: the staged context's requirements.txt is the exported pins, which the Dockerfile installs", async () => {
            await startMocks();
            const c = new MlLambda("lockedimg", args({ packaging: "image" }));
            await settle(c.functionArn, c.imageUri);
            const staged = fs.readFileSync(path.join(c.plan.context!.dir, "requirements.txt"), "utf8");
            assert.deepStrictEqual(pinnedLines(staged), ["markupsafe==3.0.4", "six==1.16.0"]);
            assert.strictEqual(staged, fs.readFileSync(c.plan.requirements.file, "utf8"));
            assert.match(fs.readFileSync(path.join(c.plan.context!.dir, "Dockerfile"), "utf8"), /COPY requirements\.txt /);
        });
    });
});
