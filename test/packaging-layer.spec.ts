import * as assert from "assert";
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { MlLambdaError } from "../components/errors";
import { DIRECT_UPLOAD_LIMIT_BYTES, UNZIPPED_LIMIT_BYTES } from "../components/limits";
import {
    LayerBuildOptions,
    buildLayer,
    decide,
    layerKey,
    lookupLayer,
    measureDir,
    measureZip,
    parseMissing,
    parseUvMissing,
    pipErrorLines,
    normalizeScripts,
    pipInstallArgs,
    platformTags,
    readRequirements,
    requirementName,
    uvErrorLines,
    uvInstallArgs,
} from "../components/packaging";
import { FIXTURES, testCacheDir, tmpDir, writeFile } from "./packaging-helpers";

function fixture(name: string): string {
    return path.join(FIXTURES, name);
}

function withLog(opts: Omit<LayerBuildOptions, "log">): { opts: LayerBuildOptions; lines: string[] } {
    const lines: string[] = [];
    return { opts: { ...opts, log: (l) => lines.push(l) }, lines };
}

describe("packaging: layer build (units)", () => {
    it("lists every manylinux tag up to the runtime's glibc, for pip's platform names", () => {
        assert.deepStrictEqual(platformTags("python3.11", "x86_64"), ["manylinux_2_17_x86_64", "manylinux2014_x86_64"]);
        const arm = platformTags("python3.12", "arm64");
        assert.strictEqual(arm[0], "manylinux_2_34_aarch64");
        assert.strictEqual(arm[arm.length - 1], "manylinux2014_aarch64");
        // The glibc steps real wheels use (nccl: 2_18, cudnn: 2_27, torch: 2_28) are all there.
        for (const t of ["manylinux_2_18_aarch64", "manylinux_2_27_aarch64", "manylinux_2_28_aarch64", "manylinux_2_17_aarch64"]) assert.ok(arm.includes(t), t);
        assert.strictEqual(arm.length, 34 - 17 + 1 + 1);
        assert.ok(!arm.some((t) => t.includes("x86_64")));
    });

    it("builds the exact pip command line: target, binary only, cp ABI, platform per tag, no bytecode, a log", () => {
        const args = pipInstallArgs({ target: "/t/python", requirementsFile: "/r.txt", runtime: "python3.11", architecture: "x86_64", logFile: "/l.log" });
        assert.deepStrictEqual(args, [
            "install", "--target", "/t/python", "--only-binary=:all:",
            "--implementation", "cp", "--python-version", "3.11", "--abi", "cp311",
            "--platform", "manylinux_2_17_x86_64", "--platform", "manylinux2014_x86_64",
            "--no-compile", "--disable-pip-version-check", "--no-input", "--progress-bar", "off",
            "--log", "/l.log", "-r", "/r.txt",
        ]);
        const a13 = pipInstallArgs({ target: "t", requirementsFile: "r", runtime: "python3.13", architecture: "arm64", logFile: "l" });
        assert.deepStrictEqual(a13.slice(a13.indexOf("--abi"), a13.indexOf("--abi") + 2), ["--abi", "cp313"]);
    });

    it("reads pip's ERROR lines from its log and names the packages that have no wheel (top-level and transitive)", () => {
        const log = [
            "2026-11-27T21:08:26,600 Collecting num2words==0.5.14 (from -r /tmp/r.txt (line 2))",
            "2026-11-27T21:08:26,621 ERROR: Could not find a version that satisfies the requirement docopt>=0.6.2 (from num2words) (from versions: none)",
            "2026-11-27T21:08:26,621 ERROR: No matching distribution found for docopt>=0.6.2 (from num2words)",
            "2026-11-27T21:08:26,622 ERROR: Could not find a version that satisfies the requirement Hdbscan_X==0.8.33 (from versions: 0.8.38.post2, 0.8.44)",
            "    raise error from eERROR: Could not find a version that satisfies the requirement bogus (from versions: none)",
        ].join("\n");
        const errors = pipErrorLines(log);
        assert.strictEqual(errors.length, 3);
        assert.deepStrictEqual(parseMissing(errors), [
            { name: "docopt", requirement: "docopt>=0.6.2", parent: "num2words", versions: "none" },
            { name: "hdbscan-x", requirement: "Hdbscan_X==0.8.33", parent: undefined, versions: "0.8.38.post2, 0.8.44" },
        ]);
    });

    it("builds the exact uv command line and reads uv's missing-wheel hints, with the requiring package", () => {
        assert.deepStrictEqual(uvInstallArgs({ target: "/t/python", requirementsFile: "/r.txt", runtime: "python3.12", architecture: "arm64" }), [
            "pip", "install", "--target", "/t/python", "--python-platform", "aarch64-manylinux_2_34", "--python-version", "3.12",
            "--only-binary", ":all:", "--no-progress", "-r", "/r.txt",
        ]);
        assert.strictEqual(uvInstallArgs({ target: "t", requirementsFile: "r", runtime: "python3.11", architecture: "x86_64" })[5], "x86_64-manylinux_2_17");
        const out = [
            "Using CPython 3.11.7 interpreter at: /usr/bin/python3",
            "error: No solution found when resolving dependencies",
            "  cause: Because docopt==0.6.2 has no usable wheels and only docopt<=0.6.2 is available, we can conclude that docopt>=0.6.2 cannot be used.",
            "         And because num2words>=0.5.14 depends on docopt>=0.6.2 and you require num2words==0.5.14, we can conclude that your requirements are unsatisfiable.",
            "",
            "hint: Wheels are required for `docopt` because building from source is disabled for all packages (i.e., with `--no-build`)",
        ].join("\n");
        assert.deepStrictEqual(parseUvMissing(out), [{ name: "docopt", requirement: "docopt==0.6.2", parent: "num2words", versions: undefined }]);
        const lines = uvErrorLines(out);
        assert.strictEqual(lines.length, 3);
        assert.match(lines[1], /^cause: Because docopt==0\.6\.2 .* And because num2words>=0\.5\.14 depends on/);
    });

    it("flattens requirement files: comments, continuations, -r includes, -c constraints", () => {
        const dir = tmpDir("req");
        writeFile(dir, "constraints.txt", "numpy<3\n");
        writeFile(dir, "sub/base.txt", "numpy>=2  # comment\n-c ../constraints.txt\n");
        writeFile(dir, "req.txt", "# top\n-r sub/base.txt\nscikit-learn==1.9.1 \\\n  --hash=sha256:abc\nhdbscan @ https://example.invalid/h.whl\n--extra-index-url https://example.invalid/simple\n");
        const flat = readRequirements(path.join(dir, "req.txt"));
        assert.deepStrictEqual(flat.lines.map((l) => [l.text, l.name]), [
            ["numpy>=2", "numpy"],
            [`-c ${path.join(dir, "constraints.txt")}`, undefined],
            ["scikit-learn==1.9.1    --hash=sha256:abc", "scikit-learn"],
            ["hdbscan @ https://example.invalid/h.whl", "hdbscan"],
            ["--extra-index-url https://example.invalid/simple", undefined],
        ]);
        assert.deepStrictEqual(flat.constraints, { [path.join(dir, "constraints.txt")]: "numpy<3\n" });
        assert.strictEqual(requirementName("Scikit_Learn[alldeps]>=1; python_version>'3'"), "scikit-learn");
        assert.strictEqual(requirementName("./local/pkg"), undefined);
        assert.throws(() => readRequirements(path.join(dir, "nope.txt")), (e: unknown) => e instanceof MlLambdaError && e.setting === "requirements");
        writeFile(dir, "bad.txt", "-r missing.txt\n");
        assert.throws(() => readRequirements(path.join(dir, "bad.txt")), /included from/);
    });

    it("rewrites console scripts' #! lines (both pip forms) and their RECORD hashes, so no build path leaks into the zip", () => {
        const site = tmpDir("scripts");
        const short = "#!/cache/tools/pip-26.3/bin/python\nimport sys\nfrom tqdm.cli import main\nsys.exit(main())\n";
        const long = "#!/bin/sh\n'''exec' \"/a/very/long/path/python\" \"$0\" \"$@\"\n' '''\nimport sys\nsys.exit(0)\n";
        writeFile(site, "bin/tqdm", short);
        writeFile(site, "bin/long", long);
        writeFile(site, "bin/data.txt", "not a script\n");
        writeFile(site, "tqdm-4.dist-info/RECORD", "../../bin/tqdm,sha256=old,999\nbin/long,sha256=old,1\ntqdm/__init__.py,sha256=keep,10\n");
        normalizeScripts(site);
        const tq = fs.readFileSync(path.join(site, "bin/tqdm"));
        assert.strictEqual(tq.toString(), "#!/usr/bin/env python3\nimport sys\nfrom tqdm.cli import main\nsys.exit(main())\n");
        assert.strictEqual(fs.readFileSync(path.join(site, "bin/long"), "utf8"), "#!/usr/bin/env python3\nimport sys\nsys.exit(0)\n");
        assert.strictEqual(fs.readFileSync(path.join(site, "bin/data.txt"), "utf8"), "not a script\n");
        const rec = fs.readFileSync(path.join(site, "tqdm-4.dist-info/RECORD"), "utf8").split("\n");
        assert.strictEqual(rec[0], `../../bin/tqdm,sha256=${crypto.createHash("sha256").update(tq).digest("base64url")},${tq.length}`);
        const lg = fs.readFileSync(path.join(site, "bin/long"));
        assert.strictEqual(rec[1], `bin/long,sha256=${crypto.createHash("sha256").update(lg).digest("base64url")},${lg.length}`);
        assert.strictEqual(rec[2], "tqdm/__init__.py,sha256=keep,10");
    });

    it("keys the cache on every input and on nothing else", () => {
        const base = { requirementsText: "six==1.17.0\n", constraints: {}, runtime: "python3.12" as const, architecture: "x86_64" as const, slim: true };
        const k = layerKey(base);
        assert.match(k, /^[0-9a-f]{64}$/);
        assert.strictEqual(layerKey({ ...base }), k);
        const variants = [
            layerKey({ ...base, requirementsText: "six==1.16.0\n" }),
            layerKey({ ...base, constraints: { "/c.txt": "six<2" } }),
            layerKey({ ...base, runtime: "python3.13" }),
            layerKey({ ...base, architecture: "arm64" }),
            layerKey({ ...base, slim: false }),
        ];
        assert.strictEqual(new Set([k, ...variants]).size, 6);
        const old = process.env.PIP_INDEX_URL;
        process.env.PIP_INDEX_URL = "https://mirror.invalid/simple";
        try {
            assert.notStrictEqual(layerKey(base), k);
        } finally {
            if (old === undefined) delete process.env.PIP_INDEX_URL;
            else process.env.PIP_INDEX_URL = old;
        }
    });

    it("throws MlLambdaError for bad input before running anything", () => {
        const cacheDir = tmpDir("bad");
        const ok = { requirements: fixture("requirements-tiny.txt"), runtime: "python3.12" as const, architecture: "x86_64" as const, cacheDir };
        assert.throws(() => buildLayer({ ...ok, requirements: "/no/such/requirements.txt" }), (e: unknown) => e instanceof MlLambdaError && e.setting === "requirements");
        assert.throws(() => buildLayer({ ...ok, runtime: "python3.9" as never }), (e: unknown) => e instanceof MlLambdaError && e.setting === "runtime");
        assert.throws(() => buildLayer({ ...ok, architecture: "ppc64le" as never }), (e: unknown) => e instanceof MlLambdaError && e.setting === "architecture");
        assert.ok(!fs.existsSync(path.join(cacheDir, "tools")), "no tools were created for bad input");
    });
});

describe("packaging: layer build (real PyPI)", () => {
    it("tiny set on a fresh cache: builds, measures, zips; the re-run does no pip work at all; the rebuild is byte-identical", () => {
        const cacheDir = tmpDir("tiny-cache");
        const { opts, lines } = withLog({ requirements: fixture("requirements-tiny.txt"), runtime: "python3.12", architecture: "x86_64", cacheDir, quiet: true });
        // An interrupted earlier build: a temp dir of a process that is gone must not survive or be trusted.
        const dead = spawnSync(process.execPath, ["-e", ""]).pid!;
        const stale = path.join(cacheDir, "layers", `.tmp-0123456789abcdef-${dead}-1`);
        writeFile(stale, "layer/python/half.py", "x");
        assert.strictEqual(lookupLayer(opts), undefined);

        const first = buildLayer(opts);
        assert.strictEqual(first.cacheHit, false);
        assert.ok(!fs.existsSync(stale), "stale temp dir of a dead build is removed");
        assert.deepStrictEqual(first.missingWheels, []);
        assert.deepStrictEqual(first.installerErrors, []);
        assert.deepStrictEqual(first.measurement.packages.map((p) => p.name).sort(), ["idna", "six", "tqdm"]);
        assert.ok(fs.existsSync(path.join(first.dir, "python", "six.py")));
        assert.ok(first.measurement.unzippedBytes > 50_000 && first.measurement.unzippedBytes < 2_000_000, `${first.measurement.unzippedBytes}`);
        assert.deepStrictEqual(first.measurement, measureDir(first.dir));
        assert.deepStrictEqual(measureZip(first.zipPath), first.measurement);
        const zipBytes = fs.readFileSync(first.zipPath);
        assert.strictEqual(first.zipBytes, zipBytes.length);
        assert.strictEqual(first.zipSha256, crypto.createHash("sha256").update(zipBytes).digest("base64"));
        assert.ok(lines.some((l) => l.includes("building layer")));

        // Second run: take pip, its cache and the interpreter away. A cache hit must not need any of them.
        fs.rmSync(path.join(cacheDir, "tools"), { recursive: true, force: true });
        fs.rmSync(path.join(cacheDir, "pip"), { recursive: true, force: true });
        const oldPython = process.env.ML_LAMBDA_PYTHON;
        process.env.ML_LAMBDA_PYTHON = "/nonexistent/python3";
        let second;
        try {
            lines.length = 0;
            second = buildLayer(opts);
        } finally {
            if (oldPython === undefined) delete process.env.ML_LAMBDA_PYTHON;
            else process.env.ML_LAMBDA_PYTHON = oldPython;
        }
        assert.strictEqual(second.cacheHit, true);
        assert.ok(!fs.existsSync(path.join(cacheDir, "tools")), "no tools were recreated");
        assert.deepStrictEqual(lines.filter((l) => !l.includes("cache hit")), []);
        assert.strictEqual(second.zipPath, first.zipPath);
        assert.strictEqual(second.zipSha256, first.zipSha256);
        assert.deepStrictEqual(second.measurement, first.measurement);
        assert.deepStrictEqual(lookupLayer(opts)?.zipSha256, first.zipSha256);

        // A damaged entry (no build.json) is not trusted: the next run rebuilds, to the same bytes.
        fs.rmSync(path.join(path.dirname(first.dir), "build.json"));
        const third = buildLayer(opts);
        assert.strictEqual(third.cacheHit, false);
        assert.strictEqual(third.zipSha256, first.zipSha256, "a fresh pip install of the same wheels zips to the same bytes");
        assert.deepStrictEqual(fs.readdirSync(path.join(cacheDir, "layers")), [first.key], "no temp dirs left behind");

        // Another machine, another cache path (of another length): the same bytes, so the same sourceCodeHash.
        const elsewhere = buildLayer({ ...opts, cacheDir: tmpDir("tiny-cache-at-a-much-longer-path-on-another-machine") });
        assert.strictEqual(elsewhere.cacheHit, false);
        assert.strictEqual(elsewhere.key, first.key);
        assert.strictEqual(elsewhere.zipSha256, first.zipSha256);
    });

    it("an sdist-only requirement is reported by name with pip's error lines; the rest is still measured", () => {
        const b = buildLayer({ requirements: fixture("requirements-sdist-only.txt"), runtime: "python3.12", architecture: "x86_64", cacheDir: testCacheDir(), quiet: true, log: () => {} });
        assert.deepStrictEqual(b.missingWheels.map((m) => m.name), ["docopt"]);
        assert.match(b.missingWheels[0].detail, /^docopt==0\.6\.2: no binary wheel for cp312 x86_64 .*no version has one/);
        assert.ok(b.installerErrors.includes("ERROR: No matching distribution found for docopt==0.6.2"), b.installerErrors.join("\n"));
        assert.deepStrictEqual(b.measurement.packages.map((p) => p.name), ["six"]);
        assert.strictEqual(b.zipPath, "", "an incomplete layer is never zipped");
        const auto = decide({ codeBytes: 0, layerBytes: [b.measurement.unzippedBytes], externalLayerBytes: [], forced: "auto", missingWheels: b.missingWheels });
        assert.strictEqual(auto.mode, "image");
        assert.match(auto.reasons[0], /docopt/);
        assert.throws(
            () => decide({ codeBytes: 0, layerBytes: [b.measurement.unzippedBytes], externalLayerBytes: [], forced: "zip", missingWheels: b.missingWheels }),
            (e: unknown) => e instanceof MlLambdaError && /docopt/.test(e.message) && /pin versions of docopt/.test(e.fix),
        );
    });

    it("a dependency with no wheel is named together with the requirement that pulls it in", () => {
        const b = buildLayer({ requirements: fixture("requirements-sdist-transitive.txt"), runtime: "python3.12", architecture: "x86_64", cacheDir: testCacheDir(), quiet: true, log: () => {} });
        assert.deepStrictEqual(b.missingWheels.map((m) => m.name), ["docopt"]);
        assert.match(b.missingWheels[0].detail, /required by num2words/);
    });

    it("the seed guide's own pins name every package without a cp312 wheel, with versions that have one", () => {
        const b = buildLayer({ requirements: fixture("requirements-seed-original.txt"), runtime: "python3.12", architecture: "x86_64", cacheDir: testCacheDir(), quiet: true, log: () => {} });
        assert.deepStrictEqual(b.missingWheels.map((m) => m.name).sort(), ["hdbscan", "scikit-learn", "sentence-transformers", "torch"]);
        const hd = b.missingWheels.find((m) => m.name === "hdbscan")!;
        assert.match(hd.detail, /hdbscan==0\.8\.33: .*versions that have one: .*0\.8\.44/);
        assert.deepStrictEqual(b.measurement.packages.map((p) => p.name), ["numpy"], "numpy<2 does have a cp312 wheel and is measured");
    });

    it("scikit-learn + hdbscan for python3.12 x86_64: plausible size and breakdown, fits the zip path, cached", () => {
        const opts = { requirements: fixture("requirements-sklearn-hdbscan.txt"), runtime: "python3.12" as const, architecture: "x86_64" as const, cacheDir: testCacheDir(), quiet: true, log: () => {} };
        const b = buildLayer(opts);
        const m = b.measurement;
        const by = new Map(m.packages.map((p) => [p.name, p.bytes]));
        assert.deepStrictEqual(b.missingWheels, []);
        // Plausibility, not exact figures: PyPI moves. scipy is the largest; each of the four is several MB.
        assert.strictEqual(m.packages[0].name, "scipy");
        for (const [name, min] of [["scipy", 40e6], ["numpy", 15e6], ["scikit-learn", 10e6], ["hdbscan", 1e6]] as const) {
            assert.ok((by.get(name) ?? 0) > min, `${name} ${by.get(name)}`);
        }
        assert.ok(m.unzippedBytes > 100e6 && m.unzippedBytes < UNZIPPED_LIMIT_BYTES, `${m.unzippedBytes}`);
        assert.ok(b.zipBytes > 0 && b.zipBytes < m.unzippedBytes * 0.6, `zip ${b.zipBytes}`);
        assert.ok(b.slimmed!.byRule.find((r) => r.rule === "tests")!.bytes > 10e6, "scipy/sklearn test suites were slimmed");
        assert.ok(!fs.existsSync(path.join(b.dir, "python", "scipy", "linalg", "tests")));
        assert.ok(fs.readdirSync(path.join(b.dir, "python")).some((n) => /^scikit_learn-.*\.dist-info$/.test(n)), "dist-info kept");
        const d = decide({ codeBytes: 10_000, layerBytes: [m.unzippedBytes], externalLayerBytes: [], forced: "auto", missingWheels: b.missingWheels, weights: b.weights });
        assert.strictEqual(d.mode, "zip");
        console.log(`      sklearn+hdbscan py3.12 x86_64: ${m.unzippedBytes} B unzipped, zip ${b.zipBytes} B (${b.zipBytes > DIRECT_UPLOAD_LIMIT_BYTES ? "over" : "under"} the 50 MiB direct upload), ` +
            `slimmed ${b.slimmed!.removedBytes} B, built in ${b.buildMs} ms${b.cacheHit ? " (cached)" : ""}; top: ${m.packages.slice(0, 4).map((p) => `${p.name} ${p.bytes}`).join(", ")}`);
        const again = buildLayer(opts);
        assert.strictEqual(again.cacheHit, true);
        assert.strictEqual(again.zipSha256, b.zipSha256);
    });

    it("uv (opt-in installer) gives the same distributions as pip, and the same missing-wheel report", () => {
        const common = { runtime: "python3.12" as const, architecture: "x86_64" as const, cacheDir: testCacheDir(), quiet: true, log: () => {} };
        const pip = buildLayer({ ...common, requirements: fixture("requirements-sklearn-hdbscan.txt") });
        const uv = buildLayer({ ...common, requirements: fixture("requirements-sklearn-hdbscan.txt"), installer: "uv" });
        assert.notStrictEqual(uv.key, pip.key, "the installer is part of the cache key");
        assert.match(uv.installer, /^uv \d/);
        const names = (b: typeof pip) => b.measurement.packages.map((p) => p.name).sort();
        assert.deepStrictEqual(names(uv), names(pip));
        for (const p of pip.measurement.packages) {
            const u = uv.measurement.packages.find((x) => x.name === p.name)!;
            assert.ok(Math.abs(u.bytes - p.bytes) <= Math.max(4096, p.bytes * 0.001), `${p.name}: pip ${p.bytes} uv ${u.bytes}`);
        }
        const missing = buildLayer({ ...common, requirements: fixture("requirements-sdist-transitive.txt"), installer: "uv" });
        assert.deepStrictEqual(missing.missingWheels.map((m) => m.name), ["docopt"]);
        assert.match(missing.missingWheels[0].detail, /required by num2words/);
        assert.ok(missing.installerErrors.some((l) => l.startsWith("hint: Wheels are required for `docopt`")));
    });

    it("hdbscan for arm64: reported when it has no aarch64 wheel (so auto picks image), zip when it has one", () => {
        const b = buildLayer({ requirements: fixture("requirements-sklearn-hdbscan.txt"), runtime: "python3.12", architecture: "arm64", cacheDir: testCacheDir(), quiet: true, log: () => {} });
        assert.ok(b.measurement.packages.some((p) => p.name === "scikit-learn"), "scikit-learn has aarch64 wheels and is measured");
        const d = decide({ codeBytes: 0, layerBytes: [b.measurement.unzippedBytes], externalLayerBytes: [], forced: "auto", missingWheels: b.missingWheels });
        if (b.missingWheels.length > 0) {
            assert.deepStrictEqual(b.missingWheels.map((m) => m.name), ["hdbscan"]);
            assert.match(b.missingWheels[0].detail, /cp312 arm64/);
            assert.strictEqual(d.mode, "image");
            console.log("      hdbscan: no cp312 manylinux aarch64 wheel on PyPI today -> image");
        } else {
            assert.ok(b.measurement.packages.some((p) => p.name === "hdbscan"));
            assert.strictEqual(d.mode, "zip");
            console.log("      hdbscan: now publishes cp312 manylinux aarch64 wheels -> zip");
        }
    });
});
