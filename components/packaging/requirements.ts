/**
 * Reading a pip requirements file into one flat text (so the cache key covers every included file, and so a
 * requirement whose package has no wheel can be left out of a retry to measure the rest).
 * Handles comments, line continuations, `-r/--requirement` includes (relative to the including file) and
 * `-c/--constraint` files (made absolute, their content hashed), and `# ml-lambda:omit` lines (omit.ts). Other option
 * lines pass through unchanged.
 */
import * as fs from "fs";
import * as path from "path";
import { MlLambdaError } from "../errors";
import { parseDirectLines, parseOmitLines } from "./omit";

export interface RequirementLine {
    /** The line as pip will read it. */
    text: string;
    /** Normalised project name (PEP 503) when the line is a named requirement; undefined for options, URLs, paths. */
    name?: string;
}

export interface FlatRequirements {
    lines: RequirementLine[];
    /** Contents of constraint files, by absolute path, for the cache key. */
    constraints: Record<string, string>;
    /** Distributions its `# ml-lambda:omit NAME...` lines leave out of the layer (omit.ts), normalised. */
    omit: string[];
    /** Its `# ml-lambda:direct NAME...` lines (omit.ts): the roots an omission keeps, when not every named line is one. */
    direct?: string[];
}

/** PEP 503 normalisation: "Scikit_Learn" and "scikit.learn" are both "scikit-learn". */
export function normalizeName(name: string): string {
    return name.toLowerCase().replace(/[-_.]+/g, "-");
}

export function readRequirements(file: string, setting = "requirements"): FlatRequirements {
    const out: FlatRequirements = { lines: [], constraints: {}, omit: [] };
    const seen = new Set<string>();
    const visit = (f: string, from?: string) => {
        const abs = path.resolve(f);
        if (!fs.existsSync(abs) || !fs.statSync(abs).isFile()) {
            throw new MlLambdaError(
                setting,
                from ? `${f} (included from ${from})` : f,
                "the requirements file must exist",
                "point it at a pip requirements file, e.g. python/requirements.txt",
            );
        }
        if (seen.has(abs)) return;
        seen.add(abs);
        const text = fs.readFileSync(abs, "utf8").replace(/\\\r?\n/g, " ");
        for (const n of parseOmitLines(text)) if (!out.omit.includes(n)) out.omit.push(n);
        const direct = parseDirectLines(text);
        if (direct) out.direct = [...new Set([...(out.direct ?? []), ...direct])];
        for (const raw of text.split(/\r?\n/)) {
            const line = raw.replace(/(^|\s)#.*$/, "").trim();
            if (!line) continue;
            const inc = /^(?:-r|--requirement)(?:\s+|=)(.+)$/.exec(line);
            if (inc) {
                visit(path.resolve(path.dirname(abs), inc[1].trim()), abs);
                continue;
            }
            const con = /^(?:-c|--constraint)(?:\s+|=)(.+)$/.exec(line);
            if (con) {
                const cAbs = path.resolve(path.dirname(abs), con[1].trim());
                if (!fs.existsSync(cAbs)) {
                    throw new MlLambdaError(setting, `${con[1].trim()} (constraint in ${abs})`, "the constraints file must exist", "fix the -c path");
                }
                out.constraints[cAbs] = fs.readFileSync(cAbs, "utf8");
                out.lines.push({ text: `-c ${cAbs}` });
                continue;
            }
            out.lines.push({ text: line, name: requirementName(line) });
        }
    };
    visit(file);
    return out;
}

/** The project name of a requirement specifier line, or undefined when the line is not one (an option, URL, path). */
export function requirementName(line: string): string | undefined {
    if (line.startsWith("-")) return undefined;
    const at = /^([A-Za-z0-9][A-Za-z0-9._-]*)\s*@/.exec(line); // "name @ url"
    if (at) return normalizeName(at[1]);
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(line) || line.startsWith(".") || line.startsWith("/")) return undefined;
    const m = /^([A-Za-z0-9][A-Za-z0-9._-]*)/.exec(line);
    return m ? normalizeName(m[1]) : undefined;
}
