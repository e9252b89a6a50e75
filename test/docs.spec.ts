import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { DEFAULT_MODEL_REVISION } from "../components/model";
import { readArgDocs, renderReadme } from "../scripts/docs";

const ROOT = path.resolve(__dirname, "..");

describe("docs generated from their sources", () => {
    it("every MlLambdaArgs field has JSDoc with what it does, @default and @example (or a default that says none)", () => {
        const docs = readArgDocs();
        assert.ok(docs.length >= 25, `only ${docs.length} args`);
        for (const a of docs) {
            assert.ok(a.doc.length > 20, `${a.name}: no description`);
            assert.ok("default" in a.tags, `${a.name}: no @default`);
            if (!["cacheDir", "dockerfile"].includes(a.name)) assert.ok("example" in a.tags, `${a.name}: no @example`);
        }
    });

    it("the model's documented default is the revision the code pins", () => {
        const model = readArgDocs().find((a) => a.name === "model")!;
        assert.ok(model.tags.default.includes(DEFAULT_MODEL_REVISION), model.tags.default);
    });

    it("the README's reference tables are what `npm run docs` generates (run it after changing args or config)", () => {
        const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
        assert.strictEqual(readme, renderReadme(readme));
        for (const a of readArgDocs()) assert.ok(readme.includes(`| \`${a.name}\` |`), `README lacks ${a.name}`);
    });

    it("the README starts with the two commands: the main job and the tests", () => {
        const lines = fs.readFileSync(path.join(ROOT, "README.md"), "utf8").split("\n");
        const code = lines.slice(0, 6).join("\n");
        assert.match(code, /npm ci && npm run plan/);
        assert.match(code, /npm test/);
        const ci = fs.readFileSync(path.join(ROOT, ".ci", "run"), "utf8");
        assert.match(ci, /\nnpm test\n/, ".ci/run must call the README's test command");
    });
});
