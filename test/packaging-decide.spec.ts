import * as assert from "assert";
import { MlLambdaError } from "../components/errors";
import { DEFAULT_HEADROOM_BYTES, MAX_LAYERS, UNZIPPED_LIMIT_BYTES } from "../components/limits";
import { DecideInput, Measurement, decide, dependencyWeights, formatSizeTable, heaviest } from "../components/packaging";

const LIMIT = 262_144_000;

function input(over: Partial<DecideInput> = {}): DecideInput {
    return { codeBytes: 0, layerBytes: [], externalLayerBytes: [], headroomBytes: 0, forced: "auto", ...over };
}

function zipError(over: Partial<DecideInput>): MlLambdaError {
    try {
        decide(input({ forced: "zip", ...over }));
    } catch (e) {
        assert.ok(e instanceof MlLambdaError, `expected MlLambdaError, got ${e}`);
        return e;
    }
    assert.fail("forced zip should have thrown");
}

describe("packaging: decide", () => {
    it("uses Lambda's documented limit", () => {
        assert.strictEqual(UNZIPPED_LIMIT_BYTES, LIMIT);
        assert.strictEqual(decide(input()).limitBytes, LIMIT);
    });

    it("exactly 262,144,000 bytes with zero headroom fits; one byte more does not", () => {
        const at = decide(input({ codeBytes: 1_000, layerBytes: [LIMIT - 1_000] }));
        assert.strictEqual(at.mode, "zip");
        assert.strictEqual(at.totalBytes, LIMIT);
        assert.strictEqual(at.availableBytes, LIMIT);
        const over = decide(input({ codeBytes: 1_001, layerBytes: [LIMIT - 1_000] }));
        assert.strictEqual(over.mode, "image");
        assert.match(over.reasons.join(" "), /\b1 bytes over the 262,144,000 available/);
    });

    it("applies the headroom (default 5 MiB) at its own boundary", () => {
        const d = decide({ codeBytes: LIMIT - DEFAULT_HEADROOM_BYTES, layerBytes: [], externalLayerBytes: [], forced: "auto" });
        assert.strictEqual(d.headroomBytes, DEFAULT_HEADROOM_BYTES);
        assert.strictEqual(d.mode, "zip");
        assert.strictEqual(decide({ codeBytes: LIMIT - DEFAULT_HEADROOM_BYTES + 1, layerBytes: [], externalLayerBytes: [], forced: "auto" }).mode, "image");
        const custom = decide(input({ headroomBytes: 1_000_000, codeBytes: LIMIT - 999_999 }));
        assert.strictEqual(custom.mode, "image");
        assert.strictEqual(custom.availableBytes, LIMIT - 1_000_000);
    });

    it("counts declared external layers, and moves back to zip when dependencies shrink", () => {
        const big = decide(input({ codeBytes: 10, layerBytes: [200_000_000], externalLayerBytes: [62_144_000] }));
        assert.strictEqual(big.totalBytes, LIMIT + 10);
        assert.strictEqual(big.mode, "image");
        assert.strictEqual(big.layerCount, 2);
        const shrunk = decide(input({ codeBytes: 10, layerBytes: [199_999_990], externalLayerBytes: [62_144_000] }));
        assert.strictEqual(shrunk.mode, "zip");
    });

    it(`more than ${MAX_LAYERS} layers goes to image under auto and is an error under zip`, () => {
        const five = decide(input({ layerBytes: [1, 1, 1], externalLayerBytes: [1, 1] }));
        assert.strictEqual(five.mode, "zip");
        const six = decide(input({ layerBytes: [1, 1, 1], externalLayerBytes: [1, 1, 1] }));
        assert.strictEqual(six.mode, "image");
        assert.match(six.reasons.join(" "), /6 layers, Lambda allows at most 5/);
        const e = zipError({ layerBytes: [1, 1, 1], externalLayerBytes: [1, 1, 1] });
        assert.strictEqual(e.setting, "packaging");
        assert.match(e.message, /6 layers/);
        assert.match(e.fix, /at most 5 layers/);
    });

    it("forced image is always image, and says so", () => {
        const small = decide(input({ forced: "image", codeBytes: 1 }));
        assert.strictEqual(small.mode, "image");
        assert.match(small.reasons[0], /forced to "image"/);
        const big = decide(input({ forced: "image", codeBytes: LIMIT * 3, missingWheels: [{ name: "hdbscan", detail: "x" }] }));
        assert.strictEqual(big.mode, "image");
        assert.match(big.reasons.join(" "), /hdbscan/);
    });

    it("forced zip that fits is zip; over the limit it throws naming the bytes over and the fix", () => {
        assert.strictEqual(decide(input({ forced: "zip", codeBytes: LIMIT })).mode, "zip");
        const e = zipError({ codeBytes: 100, layerBytes: [LIMIT], headroomBytes: 0 });
        assert.strictEqual(e.value, "zip");
        assert.match(e.message, /100 bytes over/);
        assert.match(e.fix, /packaging "image"/);
    });

    it("missing wheels: auto chooses image naming the package; zip throws naming it", () => {
        const missing = [{ name: "hdbscan", detail: "hdbscan==0.8.44: no binary wheel for cp312 arm64" }];
        const d = decide(input({ codeBytes: 1, missingWheels: missing }));
        assert.strictEqual(d.mode, "image");
        assert.match(d.reasons.join(" "), /no binary wheel for the target: hdbscan \(hdbscan==0\.8\.44/);
        const e = zipError({ codeBytes: 1, missingWheels: missing });
        assert.match(e.message, /hdbscan/);
        assert.match(e.fix, /pin versions of hdbscan/);
    });

    it("names the heaviest package with what it pulls in, else the largest packages", () => {
        const m: Measurement = {
            unzippedBytes: 700,
            files: 5,
            packages: [
                { name: "nvidia-big", bytes: 300, files: 1 },
                { name: "torch", bytes: 200, files: 1 },
                { name: "numpy", bytes: 100, files: 1 },
                { name: "sentence-transformers", bytes: 60, files: 1 },
                { name: "scikit-learn", bytes: 40, files: 1 },
            ],
            dependencies: { "nvidia-big": [], torch: ["nvidia-big", "numpy"], numpy: [], "sentence-transformers": ["torch", "numpy"], "scikit-learn": ["numpy"] },
        };
        const w = dependencyWeights(m, ["sentence-transformers", "scikit-learn", "torch"]);
        assert.deepStrictEqual(w.slice(0, 2).map((x) => [x.name, x.bytes, x.brings]), [["torch", 500, ["nvidia-big"]], ["nvidia-big", 300, []]]);
        assert.deepStrictEqual(heaviest(w, 2).map((x) => x.name), ["torch", "numpy"]);
        const d = decide(input({ codeBytes: 700, limitBytes: 600, weights: w, packages: m.packages }));
        assert.match(d.reasons.join(" "), /heaviest: torch 500 B with what it pulls in \(nvidia-big\)/);
        const d2 = decide(input({ codeBytes: 700, limitBytes: 600, packages: m.packages }));
        assert.match(d2.reasons.join(" "), /largest: nvidia-big 300 B, torch 200 B, numpy 100 B/);
    });

    it("rejects nonsense inputs with MlLambdaError", () => {
        assert.throws(() => decide(input({ codeBytes: -1 })), (e: unknown) => e instanceof MlLambdaError && e.setting === "codeBytes");
        assert.throws(() => decide(input({ externalLayerBytes: [1.5] })), (e: unknown) => e instanceof MlLambdaError && e.setting === "externalLayers[0].bytes");
        assert.throws(() => decide(input({ headroomBytes: LIMIT })), (e: unknown) => e instanceof MlLambdaError && e.setting === "headroomBytes");
        assert.throws(() => decide(input({ forced: "tarball" as never })), (e: unknown) => e instanceof MlLambdaError && e.setting === "packaging");
    });

    it("formats a size table with totals, a rest row and the reasons", () => {
        const packages = Array.from({ length: 12 }, (_, i) => ({ name: `pkg${i}`, bytes: (12 - i) * 1024 * 1024, files: 10 }));
        const total = packages.reduce((a, p) => a + p.bytes, 0);
        const d = decide(input({ layerBytes: [total] }));
        const t = formatSizeTable(d, packages, { top: 3 });
        const lines = t.split("\n");
        assert.match(lines[0], /^packaging: zip {2}\(81,788,928 of 262,144,000 bytes available/);
        assert.match(t, /pkg0\s+12\.0 MiB\s+10/);
        assert.match(t, /\(9 more\)\s+45\.0 MiB\s+90/);
        assert.match(t, /total \(code \+ layers\)\s+78\.0 MiB\s+120/);
        assert.match(lines[lines.length - 1], /^ {2}why: /);
        assert.ok(!/pkg3\b/.test(t));
    });
});
