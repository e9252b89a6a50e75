/**
 * Generates the README's reference sections from their single sources, so docs and code cannot drift:
 *  - the MlLambdaArgs reference from the JSDoc in components/args.ts (read with the TypeScript compiler API);
 *  - the stack config reference from STACK_CONFIG_KEYS (config.ts).
 * `npm run docs` rewrites the README between the markers; test/docs.spec.ts fails when they are stale.
 */
import * as fs from "fs";
import * as path from "path";
import * as ts from "typescript";
import { STACK_CONFIG_KEYS } from "../config";

const ROOT = path.resolve(__dirname, "..");

export interface ArgDoc {
    name: string;
    type: string;
    doc: string;
    tags: Record<string, string>;
}

/** Each property of `interface MlLambdaArgs`, with its JSDoc text and tags. */
export function readArgDocs(file = path.join(ROOT, "components", "args.ts"), iface = "MlLambdaArgs"): ArgDoc[] {
    const src = ts.createSourceFile(file, fs.readFileSync(file, "utf8"), ts.ScriptTarget.ES2022, true);
    const out: ArgDoc[] = [];
    src.forEachChild((node) => {
        if (!ts.isInterfaceDeclaration(node) || node.name.text !== iface) return;
        for (const m of node.members) {
            if (!ts.isPropertySignature(m) || !m.name) continue;
            const jsdoc = ts.getJSDocCommentsAndTags(m).find(ts.isJSDoc);
            const tags: Record<string, string> = {};
            for (const t of jsdoc?.tags ?? []) tags[t.tagName.text] = ts.getTextOfJSDocComment(t.comment)?.trim() ?? "";
            out.push({
                name: m.name.getText(src),
                type: m.type?.getText(src).replace(/\s+/g, " ") ?? "unknown",
                doc: (ts.getTextOfJSDocComment(jsdoc?.comment) ?? "").replace(/\s+/g, " ").trim(),
                tags,
            });
        }
    });
    return out;
}

const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");

export function argsReference(): string {
    const rows = readArgDocs().map((a) => `| \`${a.name}\` | \`${cell(a.type)}\` | ${cell(a.doc)} | ${cell(a.tags.default ?? "")} | ${a.tags.example ? "`" + cell(a.tags.example) + "`" : ""} |`);
    return ["| arg | type | what it does, and the AWS limit | default | example |", "| --- | --- | --- | --- | --- |", ...rows].join("\n");
}

export function configReference(): string {
    const rows = STACK_CONFIG_KEYS.map((k) => `| \`ml-lambda:${k.key}\` | ${k.type} | \`${JSON.stringify(k.default)}\` | ${cell(k.description)} |`);
    return ["| key | type | default | what, and the limit |", "| --- | --- | --- | --- |", ...rows].join("\n");
}

export const SECTIONS: Record<string, () => string> = { "args-reference": argsReference, "config-reference": configReference };

/** The README with every generated section replaced by its current rendering. */
export function renderReadme(readme: string): string {
    let out = readme;
    for (const [name, render] of Object.entries(SECTIONS)) {
        const re = new RegExp(`(<!-- ${name}:start -->\\n)[\\s\\S]*?(<!-- ${name}:end -->)`);
        if (!re.test(out)) throw new Error(`README.md lacks the markers <!-- ${name}:start --> / <!-- ${name}:end -->`);
        out = out.replace(re, (_m, a, b) => `${a}${render()}\n${b}`);
    }
    return out;
}

if (require.main === module) {
    const file = path.join(ROOT, "README.md");
    const before = fs.readFileSync(file, "utf8");
    const after = renderReadme(before);
    fs.writeFileSync(file, after);
    console.error(before === after ? "README.md reference sections already up to date" : "README.md reference sections regenerated");
}
