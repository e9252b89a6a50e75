import * as fs from "fs";
import * as path from "path";
import { MlLambdaError } from "../errors";
import { Measurement, summarize } from "./measure";
import { walkTree } from "./tree";
import { writeZip } from "./zip";

export interface ZipDirectoryOptions {
    /** Path prepended to every entry name, e.g. "python" (no leading or trailing slash needed). */
    prefix?: string;
    /** Globs left out of the zip; see compileExclude in tree.ts. */
    exclude?: string[];
}

export interface ZipDirectoryResult {
    bytes: number;
    /** base64 sha256 of the zip file (Lambda's CodeSha256, Pulumi's sourceCodeHash). */
    sha256: string;
    /** Of what went into the zip (so equal to measureZip(outPath)). */
    measurement: Measurement;
}

/**
 * Zips a directory deterministically (sorted entries, fixed timestamps and modes; see zip.ts), synchronously.
 * Used for layer zips and for the function code zip. The zip is written to a temporary name and renamed, so a
 * reader never sees half a file.
 */
export function zipDirectory(dir: string, outPath: string, opts: ZipDirectoryOptions = {}): ZipDirectoryResult {
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
        throw new MlLambdaError("dir", dir, "the directory to zip must exist", "pass an existing directory");
    }
    const prefix = (opts.prefix ?? "").replace(/^\/+|\/+$/g, "");
    const { files } = walkTree(dir, { exclude: opts.exclude });
    const named = files.map((f) => ({ ...f, name: prefix ? `${prefix}/${f.rel}` : f.rel }));
    fs.mkdirSync(path.dirname(path.resolve(outPath)), { recursive: true });
    const tmp = `${outPath}.tmp-${process.pid}`;
    try {
        const res = writeZip(
            tmp,
            named.map((f) => ({ name: f.name, executable: f.executable, read: () => fs.readFileSync(f.abs) })),
        );
        fs.renameSync(tmp, outPath);
        const byName = new Map(named.map((f) => [f.name, f]));
        const measurement = summarize(
            named.map((f) => ({ path: f.name, size: f.size })),
            (name) => fs.readFileSync(byName.get(name)!.abs, "utf8"),
        );
        return { bytes: res.bytes, sha256: res.sha256, measurement };
    } finally {
        fs.rmSync(tmp, { force: true });
    }
}
