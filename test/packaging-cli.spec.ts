import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { measureDir, zipDirectory } from "../components/packaging";
import { FIXTURES, REPO, fakeDist, testCacheDir, tmpDir, writeFile } from "./packaging-helpers";

function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
    const r = spawnSync(process.execPath, [require.resolve("ts-node/dist/bin"), "--transpile-only", path.join(REPO, "cli", "main.ts"), "size", ...args], {
        encoding: "utf8",
        cwd: REPO,
        env: { ...process.env, ML_LAMBDA_CACHE_DIR: testCacheDir(), ...env },
        maxBuffer: 64 * 1024 * 1024,
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("packaging: ml-lambda size", () => {
    let tree: string;
    before(() => {
        tree = tmpDir("cli-tree");
        fakeDist(tree, "six", "1.17.0", { "six.py": "s".repeat(40_000) });
        writeFile(tree, "handler.py", "def handler(event, context):\n    return {}\n");
    });

    it("--dir --json prints one JSON object on stdout with the size, decision and packages", () => {
        const r = cli(["--dir", tree, "--json"]);
        assert.strictEqual(r.status, 0, r.stderr);
        const j = JSON.parse(r.stdout);
        const m = measureDir(tree);
        assert.strictEqual(j.unzippedBytes, m.unzippedBytes);
        assert.strictEqual(j.decision.mode, "zip");
        assert.ok(Array.isArray(j.decision.reasons) && j.decision.reasons.length === 1);
        assert.deepStrictEqual(j.packages.map((p: { name: string; bytes: number }) => [p.name, p.bytes]), m.packages.map((p) => [p.name, p.bytes]));
    });

    it("--zip measures from the central directory and agrees with --dir; --headroom moves the decision", () => {
        const zip = path.join(tmpDir("cli-zip"), "code.zip");
        zipDirectory(tree, zip);
        const j = JSON.parse(cli(["--zip", zip, "--json"]).stdout);
        assert.strictEqual(j.unzippedBytes, measureDir(tree).unzippedBytes);
        const headroom = 262_144_000 - j.unzippedBytes + 1;
        const tight = cli(["--zip", zip, "--json", "--headroom", String(headroom)]);
        const t = JSON.parse(tight.stdout);
        assert.strictEqual(t.decision.mode, "image");
        assert.match(t.decision.reasons[0], /1 bytes over/);
    });

    it("prints a table without --json", () => {
        const r = cli(["--dir", tree]);
        assert.strictEqual(r.status, 0, r.stderr);
        assert.match(r.stdout, /^packaging: zip/);
        assert.match(r.stdout, /six\s+\d/);
        assert.match(r.stdout, /why: code \+ layers unzipped/);
    });

    it("--requirements builds (cached) for the target and keeps stdout pure JSON while progress goes to stderr", () => {
        const r = cli(["--requirements", path.join(FIXTURES, "requirements-tiny.txt"), "--python", "3.12", "--arch", "x86_64", "--json"]);
        assert.strictEqual(r.status, 0, r.stderr);
        const j = JSON.parse(r.stdout);
        assert.deepStrictEqual(j.packages.map((p: { name: string }) => p.name).sort(), ["idna", "six", "tqdm"]);
        assert.strictEqual(j.decision.mode, "zip");
        assert.match(j.layer.zipSha256, /^[A-Za-z0-9+/]{43}=$/);
        assert.deepStrictEqual(j.missingWheels, []);
        assert.match(r.stderr, /ml-lambda: (layer .* cache hit|building layer)/);
    });

    it("--requirements takes a uv project (pyproject.toml): the locked set is built; an unlocked one exits 2 naming the fix", () => {
        const r = cli(["--requirements", path.join(FIXTURES, "uv-project", "pyproject.toml"), "--json"]);
        assert.strictEqual(r.status, 0, r.stderr);
        const j = JSON.parse(r.stdout);
        assert.deepStrictEqual(j.packages.map((p: { name: string }) => p.name.toLowerCase()).sort(), ["markupsafe", "six"]);
        assert.match(r.stderr, /ml-lambda: uv\.lock of .*uv-project: (cache hit|\d+ pinned)/);
        const unlocked = tmpDir("cli-unlocked");
        fs.copyFileSync(path.join(FIXTURES, "uv-project", "pyproject.toml"), path.join(unlocked, "pyproject.toml"));
        const refused = cli(["--requirements", path.join(unlocked, "pyproject.toml")]);
        assert.strictEqual(refused.status, 2);
        assert.match(refused.stderr, /"requirements" = .*no uv\.lock beside it.*Fix: run `uv lock`/);
    });

    it("--requirements with an sdist-only package: decision image naming it", () => {
        const j = JSON.parse(cli(["--requirements", path.join(FIXTURES, "requirements-sdist-only.txt"), "--json"]).stdout);
        assert.strictEqual(j.decision.mode, "image");
        assert.match(j.decision.reasons[0], /docopt/);
        assert.deepStrictEqual(j.missingWheels.map((m: { name: string }) => m.name), ["docopt"]);
        assert.ok(j.installerErrors.some((l: string) => l.startsWith("ERROR: Could not find a version that satisfies the requirement docopt")));
    });

    it("usage errors and user mistakes exit 2 (as in every command), naming the setting", () => {
        assert.strictEqual(cli([]).status, 2);
        assert.strictEqual(cli(["--dir", tree, "--zip", "x.zip"]).status, 2);
        assert.strictEqual(cli(["--bogus"]).status, 2);
        const missing = cli(["--requirements", "/no/such/file.txt"]);
        assert.strictEqual(missing.status, 2);
        assert.match(missing.stderr, /"requirements" = "\/no\/such\/file.txt"/);
        const py = cli(["--requirements", path.join(FIXTURES, "requirements-tiny.txt"), "--python", "3.9"]);
        assert.strictEqual(py.status, 2);
        assert.match(py.stderr, /"--python" = "3.9"/);
        const arch = cli(["--dir", tree, "--headroom", "lots"]);
        assert.strictEqual(arch.status, 2);
        assert.match(arch.stderr, /"--headroom"/);
        const json = cli(["--dir", tree, "--headroom", "262144000", "--json"]);
        assert.strictEqual(json.status, 2);
        assert.match(JSON.parse(json.stdout).error, /"--headroom" = 262144000: must be below/);
        assert.ok(fs.existsSync(tree));
    });
});
