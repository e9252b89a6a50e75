/**
 * The seed guide's requirement set (sentence-transformers, scikit-learn, hdbscan, torch) with pins that resolve
 * today, built for python3.12 x86_64 as a user following the guide would get it (torch from PyPI brings CUDA).
 * Multi-GB: runs when ML_LAMBDA_SLOW=1, or when the build is already in the test cache (then it costs nothing).
 */
import * as assert from "assert";
import * as path from "path";
import { UNZIPPED_LIMIT_BYTES } from "../components/limits";
import { LayerBuildOptions, buildLayer, decide, formatSizeTable, lookupLayer } from "../components/packaging";
import { FIXTURES, testCacheDir } from "./packaging-helpers";

describe("packaging: the seed's set (sentence-transformers, scikit-learn, hdbscan, torch)", () => {
    const opts: LayerBuildOptions = {
        requirements: path.join(FIXTURES, "requirements-seed.txt"),
        runtime: "python3.12",
        architecture: "x86_64",
        cacheDir: testCacheDir(),
        quiet: true,
    };

    it("lands on image, with torch named as the reason", function () {
        if (process.env.ML_LAMBDA_SLOW !== "1" && !lookupLayer(opts)) {
            console.log("      skipped: multi-GB build; run with ML_LAMBDA_SLOW=1 (then it is cached)");
            this.skip();
        }
        const b = buildLayer(opts);
        const m = b.measurement;
        assert.deepStrictEqual(b.missingWheels, [], "every package of the seed set has a cp312 x86_64 wheel with these pins");
        for (const name of ["torch", "sentence-transformers", "scikit-learn", "hdbscan", "transformers", "numpy", "scipy"]) {
            assert.ok(m.packages.some((p) => p.name === name), `${name} installed`);
        }
        const torch = m.packages.find((p) => p.name === "torch")!;
        assert.ok(torch.bytes > 500e6, `torch alone ${torch.bytes} B`);
        assert.ok(m.unzippedBytes > UNZIPPED_LIMIT_BYTES * 2, `${m.unzippedBytes}`);
        assert.strictEqual(b.zipPath, "", "a layer over the limit on its own is not zipped");
        assert.strictEqual(b.weights[0].name, "torch", "torch brings the most bytes with it");

        const d = decide({ codeBytes: 20_000, layerBytes: [m.unzippedBytes], externalLayerBytes: [], forced: "auto", missingWheels: b.missingWheels, packages: m.packages, weights: b.weights });
        assert.strictEqual(d.mode, "image");
        assert.match(d.reasons[0], /bytes over the 256,901,120 available/);
        assert.match(d.reasons[0], /heaviest: torch [\d.]+ GiB with what it pulls in \(/);
        assert.throws(
            () => decide({ codeBytes: 20_000, layerBytes: [m.unzippedBytes], externalLayerBytes: [], forced: "zip", weights: b.weights }),
            /the zip path cannot work: .*heaviest: torch/,
        );
        console.log(formatSizeTable(d, m.packages, { top: 8 }).replace(/^/gm, "      "));
        console.log(`      built in ${b.buildMs} ms${b.cacheHit ? " (cache hit now)" : ""}; slimming removed ${b.slimmed?.removedBytes} B`);
    });
});
