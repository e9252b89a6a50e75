import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ensureVenv, venvReady } from "../components/venv";

describe("the venv manager (components/venv.ts)", function () {
    this.timeout(120_000);
    let root: string;
    before(() => { root = fs.mkdtempSync(path.join(os.tmpdir(), "ml-lambda-venv-")); });
    after(() => fs.rmSync(root, { recursive: true, force: true }));

    it("builds the venv where it lives: its console scripts' #! lines name it and run (moto_server, uv)", () => {
        const dir = path.join(root, "tools", "v1");
        const bin = ensureVenv({ dir, installs: [], what: "a test venv", log: () => undefined });
        assert.strictEqual(bin, path.join(dir, "bin"));
        assert.ok(venvReady(dir));
        // pip is a console script that `python -m venv` writes: the same kind of file as moto_server.
        const shebang = fs.readFileSync(path.join(bin, "pip"), "utf8").split("\n")[0];
        assert.match(shebang, new RegExp(`^#!${path.join(dir, "bin").replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}/python3?$`));
        const r = spawnSync(path.join(bin, "pip"), ["--version"], { encoding: "utf8" });
        assert.strictEqual(r.status, 0, r.stderr);
        assert.deepStrictEqual(fs.readdirSync(path.dirname(dir)).sort(), ["v1"], "no temporary or lock directory is left beside it");
    });

    it("rebuilds a directory left without the ready mark, and keeps nothing when an install fails", () => {
        const dir = path.join(root, "tools", "v2");
        fs.mkdirSync(path.join(dir, "bin"), { recursive: true });
        fs.writeFileSync(path.join(dir, "bin", "stale"), "left by an interrupted run");
        assert.ok(!venvReady(dir));
        ensureVenv({ dir, installs: [], what: "a test venv", log: () => undefined });
        assert.ok(!fs.existsSync(path.join(dir, "bin", "stale")));

        const bad = path.join(root, "tools", "v3");
        assert.throws(
            () => ensureVenv({ dir: bad, installs: [["--no-index", "no-such-package-ml-lambda==0"]], what: "a failing venv", log: () => undefined }),
            /could not install --no-index no-such-package-ml-lambda==0 into a failing venv.*nothing was kept/s,
        );
        assert.ok(!fs.existsSync(bad));
    });
});
