import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { SLIM_RULES, buildLayer, importedTestModules, slimRuleFor, slimTree } from "../components/packaging";
import { FIXTURES, python, testCacheDir, tmpDir, writeFile } from "./packaging-helpers";

describe("packaging: slimming", () => {
    it("matches only what the rules say", () => {
        const cases: [string, boolean, string | undefined][] = [
            ["numpy/__pycache__", true, "pycache"],
            ["six.cpython-311.pyc", false, "pycache"],
            ["pkg/mod.pyo", false, "pycache"],
            ["scipy/linalg/tests", true, "tests"],
            ["joblib/test", true, "tests"],
            ["tests", true, undefined], // a top-level package named tests is left alone
            ["numpy/testing", true, undefined], // numpy.testing is imported by users' code and by other packages
            ["torch/testing/_internal", true, undefined],
            ["pkg/tests.py", false, undefined],
            ["scikit_learn-1.9.1.dist-info", true, undefined],
            ["foo-1.0.dist-info/tests", true, undefined], // nothing inside a dist-info is touched
            ["bin", true, "scripts"],
            ["pkg/bin", true, undefined],
            ["numpy/_core/_multiarray_umath.cpython-312-x86_64-linux-gnu.so", false, undefined],
            ["numpy.libs/libscipy_openblas64_-ff651d7f.so", false, undefined],
            ["torch/include", true, undefined],
        ];
        for (const [rel, isDir, rule] of cases) assert.strictEqual(slimRuleFor(rel, isDir), rule, rel);
        assert.deepStrictEqual(SLIM_RULES.map((r) => r.id), ["pycache", "tests", "scripts"]);
    });

    it("removes matches from a generated tree and reports bytes by rule", () => {
        const site = tmpDir("slim");
        writeFile(site, "pkg/__init__.py", "x = 1\n");
        writeFile(site, "pkg/__pycache__/__init__.cpython-311.pyc", Buffer.alloc(100));
        writeFile(site, "pkg/sub/tests/test_a.py", Buffer.alloc(1000));
        writeFile(site, "pkg/sub/tests/data/big.npz", Buffer.alloc(5000));
        writeFile(site, "pkg/_ext.so", Buffer.alloc(777));
        writeFile(site, "pkg-1.0.dist-info/METADATA", "Name: pkg\n");
        writeFile(site, "bin/pkg-cli", "#!/build/venv/bin/python\n");
        writeFile(site, "stale.pyc", Buffer.alloc(10));
        const r = slimTree(site);
        assert.deepStrictEqual(r.byRule, [
            { rule: "pycache", bytes: 110, files: 2 },
            { rule: "tests", bytes: 6000, files: 2 },
            { rule: "scripts", bytes: 25, files: 1 },
        ]);
        assert.deepStrictEqual(r.kept, []);
        assert.strictEqual(r.removedBytes, 6135);
        assert.strictEqual(r.removedFiles, 5);
        assert.ok(fs.existsSync(path.join(site, "pkg/_ext.so")));
        assert.ok(fs.existsSync(path.join(site, "pkg-1.0.dist-info/METADATA")));
        assert.ok(!fs.existsSync(path.join(site, "pkg/sub/tests")));
        assert.ok(!fs.existsSync(path.join(site, "bin")));
    });

    it("keeps a test directory that code outside test directories imports (absolute or relative)", () => {
        const site = tmpDir("slim-keep");
        writeFile(site, "numpy/_core/tests/_natype.py", "pd_NA = None\n");
        writeFile(site, "numpy/_core/tests/test_big.py", Buffer.alloc(3000));
        writeFile(site, "numpy/testing/_private/utils.py", "from numpy._core.tests._natype import pd_NA\n");
        writeFile(site, "pkg/sub/tests/helper.py", "X = 1\n");
        writeFile(site, "pkg/sub/api.py", "from .tests import helper\n");
        writeFile(site, "pkg/other/tests/test_x.py", Buffer.alloc(2000));
        writeFile(site, "pkg/other/mod.py", "# mentions tests but imports none of them\nimport os.path\n");
        const r = slimTree(site);
        assert.deepStrictEqual(r.kept, ["numpy/_core/tests", "pkg/sub/tests"]);
        assert.strictEqual(r.byRule.find((x) => x.rule === "tests")!.bytes, 2000);
        assert.ok(fs.existsSync(path.join(site, "numpy/_core/tests/_natype.py")));
        assert.ok(!fs.existsSync(path.join(site, "pkg/other/tests")));
        assert.deepStrictEqual(
            [...importedTestModules([{ abs: path.join(site, "pkg/sub/api.py"), rel: "pkg/sub/api.py" }], ["pkg/sub/tests", "pkg/other/tests"])],
            ["pkg/sub/tests"],
        );
    });

    it("a slimmed layer built for the host's python3.11 x86_64 imports and works (scikit-learn, scipy, hdbscan, transformers)", function () {
        const probe = python(["-c", "import sys, platform; print(sys.version_info[:2] == (3, 11) and platform.machine() == 'x86_64')"]);
        if (probe.stdout.trim() !== "True") {
            console.log("      skipped: the host python is not CPython 3.11 on x86_64");
            this.skip();
        }
        const b = buildLayer({ requirements: path.join(FIXTURES, "requirements-smoke.txt"), runtime: "python3.11", architecture: "x86_64", cacheDir: testCacheDir(), quiet: true, log: () => {} });
        assert.deepStrictEqual(b.missingWheels, []);
        const tests = b.slimmed!.byRule.find((r) => r.rule === "tests")!;
        assert.ok(tests.bytes > 10e6, `tests slimmed: ${tests.bytes}`);
        const site = path.join(b.dir, "python");
        assert.ok(!fs.existsSync(path.join(site, "sklearn", "cluster", "tests")));
        // numpy.testing imports numpy._core.tests._natype (numpy 2.x): that one test directory must survive.
        if (fs.readFileSync(path.join(site, "numpy/testing/_private/utils.py"), "utf8").includes("numpy._core.tests")) {
            assert.ok(b.slimmed!.kept.includes("numpy/_core/tests"), JSON.stringify(b.slimmed!.kept));
        }
        assert.ok(!fs.existsSync(path.join(site, "bin")));
        // -S: no site-packages of the host, so nothing outside the layer can stand in for a removed file.
        // PYTHONDONTWRITEBYTECODE keeps the cached tree as built (Lambda's /opt is read-only too).
        const script = `
import sys
sys.path.insert(0, ${JSON.stringify(site)})
import importlib.metadata as md
import numpy as np, scipy, scipy.sparse.linalg, scipy.special, scipy.spatial, scipy.stats
import sklearn, sklearn.cluster, sklearn.ensemble, sklearn.metrics, sklearn.preprocessing, sklearn.decomposition
import hdbscan
import transformers
from transformers import AutoTokenizer
assert all(p.startswith(${JSON.stringify(site)}) for p in (np.__file__, scipy.__file__, sklearn.__file__, hdbscan.__file__, transformers.__file__))
rng = np.random.default_rng(0)
X = np.vstack([rng.normal(0, 0.3, (60, 4)), rng.normal(5, 0.3, (60, 4))])
labels = hdbscan.HDBSCAN(min_cluster_size=10).fit_predict(X)
assert len(set(labels) - {-1}) == 2, labels
assert len(set(sklearn.cluster.HDBSCAN(min_cluster_size=10).fit_predict(X)) - {-1}) == 2
assert sklearn.cluster.KMeans(n_clusters=2, n_init=2, random_state=0).fit(X).inertia_ > 0
sklearn.ensemble.RandomForestClassifier(n_estimators=5).fit(X, labels >= 0)
print(md.version("scikit-learn"), md.version("transformers"), md.version("numpy"), transformers.__version__)
`;
        const r = python(["-S", "-c", script], { env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1", TRANSFORMERS_NO_ADVISORY_WARNINGS: "1" } });
        assert.strictEqual(r.status, 0, `import smoke failed:\n${r.stdout}\n${r.stderr}`);
        const [sk, tf] = r.stdout.trim().split("\n").pop()!.split(" ");
        assert.strictEqual(sk, "1.7.2");
        assert.match(tf, /^\d+\.\d+/);
        console.log(`      python3.11 layer: ${b.measurement.unzippedBytes} B after slimming ${b.slimmed!.removedBytes} B (${b.slimmed!.byRule.map((x) => `${x.rule} ${x.bytes}`).join(", ")})`);
    });
});
