import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { MlLambdaError } from "../components/errors";
import { measureDir, measureZip, parseRecord, zipDirectory } from "../components/packaging";
import { fakeDist, python, tmpDir, writeFile } from "./packaging-helpers";

describe("packaging: measure", () => {
    it("sums apparent file sizes of a generated tree, not disk blocks (sparse file)", () => {
        const root = tmpDir("sparse");
        writeFile(root, "a.txt", "x".repeat(1000));
        writeFile(root, "pkg/b.bin", Buffer.alloc(4096, 7));
        // 20 MB sparse file: almost no blocks on disk, but a zip (and Lambda) counts every byte.
        const sparse = path.join(root, "pkg", "sparse.bin");
        fs.closeSync(fs.openSync(sparse, "w"));
        fs.truncateSync(sparse, 20_000_000);
        const st = fs.statSync(sparse);
        assert.ok(st.blocks * 512 < 1_000_000, `test setup: file should be sparse (blocks=${st.blocks})`);
        const m = measureDir(root);
        assert.strictEqual(m.unzippedBytes, 1000 + 4096 + 20_000_000);
        assert.strictEqual(m.files, 3);
    });

    it("counts empty directories as nothing", () => {
        const root = tmpDir("empty");
        fs.mkdirSync(path.join(root, "a", "b", "c"), { recursive: true });
        fs.mkdirSync(path.join(root, "d"));
        writeFile(root, "d/f", "12345");
        const m = measureDir(root);
        assert.deepStrictEqual([m.unzippedBytes, m.files], [5, 1]);
    });

    it("follows symlinks as the zip stores them (target bytes), skips dangling links and cycles", () => {
        const root = tmpDir("links");
        const outside = tmpDir("outside");
        writeFile(outside, "big.bin", Buffer.alloc(3000, 1));
        writeFile(root, "real/data.bin", Buffer.alloc(1000, 2));
        fs.symlinkSync(path.join(outside, "big.bin"), path.join(root, "link-to-file"));
        fs.symlinkSync(path.join(root, "real"), path.join(root, "link-to-dir"));
        fs.symlinkSync(path.join(root, "nowhere"), path.join(root, "dangling"));
        fs.symlinkSync(root, path.join(root, "real", "loop")); // points at an ancestor: a cycle
        const m = measureDir(root);
        // real/data.bin + link-to-dir/data.bin (followed) + link-to-file (3000); dangling and the loop skipped.
        assert.strictEqual(m.unzippedBytes, 1000 + 1000 + 3000);
        assert.strictEqual(m.files, 3);
        const zip = path.join(tmpDir("links-zip"), "l.zip");
        const z = zipDirectory(root, zip);
        assert.deepStrictEqual(measureZip(zip), m);
        assert.deepStrictEqual(z.measurement, m);
    });

    it("attributes files to distributions through dist-info RECORD, largest first, rest by top-level name", () => {
        const root = tmpDir("dists");
        const site = path.join(root, "python");
        fakeDist(site, "scikit-learn", "1.9.1", { "sklearn/__init__.py": "x".repeat(300), "sklearn/_c.so": Buffer.alloc(5000), "scikit_learn.libs/libgomp.so": Buffer.alloc(700) });
        fakeDist(site, "numpy", "2.5.5", { "numpy/__init__.py": "y".repeat(2000), "numpy/core/x.so": Buffer.alloc(9000) });
        writeFile(site, "stray_module/x.py", "z".repeat(50)); // no RECORD claims it
        writeFile(root, "handler.py", "h".repeat(10)); // outside any site dir
        const m = measureDir(root);
        const names = m.packages.map((p) => p.name);
        assert.deepStrictEqual(names, ["numpy", "scikit-learn", "stray_module", "handler.py"]);
        const sk = m.packages.find((p) => p.name === "scikit-learn")!;
        const skMeta = fs.statSync(path.join(site, "scikit_learn-1.9.1.dist-info", "METADATA")).size + fs.statSync(path.join(site, "scikit_learn-1.9.1.dist-info", "RECORD")).size;
        assert.strictEqual(sk.bytes, 300 + 5000 + 700 + skMeta);
        assert.strictEqual(sk.files, 5);
        assert.strictEqual(m.packages.reduce((a, p) => a + p.bytes, 0), m.unzippedBytes);
        assert.strictEqual(m.packages.reduce((a, p) => a + p.files, 0), m.files);
    });

    it("reads the installed dependency graph from METADATA, following requested extras only", () => {
        const site = tmpDir("graph");
        const meta = (dir: string, name: string, requires: string[]) => {
            writeFile(site, `${dir}/METADATA`, [`Metadata-Version: 2.1`, `Name: ${name}`, `Version: 1`, ...requires.map((r) => `Requires-Dist: ${r}`), "", "Requires-Dist: body-text-is-ignored"].join("\n"));
            writeFile(site, `${dir}/RECORD`, `${dir}/METADATA,,\n${dir}/RECORD,,\n`);
        };
        meta("torch-2.dist-info", "torch", ['cuda-toolkit[cublas]==13.2.2; platform_system == "Linux"', "Sympy>=1", "pytest; extra == 'dev'", "not-installed"]);
        meta("cuda_toolkit-13.dist-info", "cuda-toolkit", ['nvidia-cublas==13.*; extra == "cublas"', 'nvidia-cufft==12.*; extra == "cufft"']);
        meta("nvidia_cublas-13.dist-info", "nvidia-cublas", []);
        meta("nvidia_cufft-12.dist-info", "nvidia-cufft", []);
        meta("sympy-1.dist-info", "sympy", []);
        meta("pytest-8.dist-info", "pytest", []);
        const m = measureDir(site);
        assert.deepStrictEqual(m.dependencies, {
            "cuda-toolkit": [],
            "nvidia-cublas": [],
            "nvidia-cufft": [],
            pytest: [],
            sympy: [],
            torch: ["cuda-toolkit", "nvidia-cublas", "sympy"],
        });
    });

    it("zip and dir agree, with and without a prefix, including package attribution", () => {
        const root = tmpDir("agree");
        fakeDist(root, "six", "1.17.0", { "six.py": "s".repeat(1234) });
        writeFile(root, "tool/run.sh", "#!/bin/sh\necho hi\n", 0o755);
        writeFile(root, "empty.txt", "");
        const out = tmpDir("agree-zip");
        const z = zipDirectory(root, path.join(out, "a.zip"));
        assert.deepStrictEqual(measureZip(path.join(out, "a.zip")), measureDir(root));
        assert.deepStrictEqual(z.measurement, measureDir(root));
        zipDirectory(root, path.join(out, "b.zip"), { prefix: "python" });
        const layerRoot = tmpDir("agree-layer");
        fs.cpSync(root, path.join(layerRoot, "python"), { recursive: true });
        assert.deepStrictEqual(measureZip(path.join(out, "b.zip")), measureDir(layerRoot));
    });

    it("reads sizes from a zip written by another tool (Python's zipfile), zip64 end records included", function () {
        const out = tmpDir("pyzip");
        const zip = path.join(out, "z64.zip");
        // 70,000 entries force the zip64 end of central directory (the 16-bit entry count overflows).
        const script = [
            "import sys, zipfile",
            "with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:",
            "    z.writestr('dir/', '')",
            "    z.writestr('big.txt', 'a' * 100000)",
            "    for i in range(70000): z.writestr(f'f/{i}.txt', str(i))",
        ].join("\n");
        const r = python(["-c", script, zip]);
        assert.strictEqual(r.status, 0, r.stderr);
        const m = measureZip(zip);
        let expected = 100000;
        for (let i = 0; i < 70000; i++) expected += String(i).length;
        assert.strictEqual(m.files, 70001); // the directory entry is not a file
        assert.strictEqual(m.unzippedBytes, expected);
    });

    it("parses RECORD paths, quoted ones included", () => {
        assert.deepStrictEqual(parseRecord('a/b.py,sha256=x,1\n"a/with,comma.py",sha256=y,2\n"q""uote.py",,\n\n'), ["a/b.py", "a/with,comma.py", 'q"uote.py']);
    });

    it("throws MlLambdaError naming the setting for a missing dir or zip", () => {
        assert.throws(() => measureDir("/nonexistent/dir"), (e: unknown) => e instanceof MlLambdaError && e.setting === "dir");
        assert.throws(() => measureZip("/nonexistent/x.zip"), (e: unknown) => e instanceof MlLambdaError && e.setting === "zip");
    });
});
