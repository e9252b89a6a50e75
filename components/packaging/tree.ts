/**
 * Walking a directory the way a zip of it (and so Lambda) sees it.
 *
 * Symlinks: followed, and stored as the file they point to, as `zip -r` does without `-y` and as this package's
 * zipDirectory does. Lambda extracts what the zip holds, so the bytes it counts are the target's bytes; measuring the
 * target's size here keeps measureDir(dir) equal to measureZip(zipDirectory(dir)). A symlinked directory is followed
 * too, except when it points back into one of its own ancestors (a cycle), which is skipped. A dangling symlink has
 * nothing to store and is skipped. Wheels cannot contain symlinks, so a pip-built layer has none; they matter for a
 * user's handler directory.
 * Sizes: the apparent size (`stat.size`), which is what a zip records; a sparse file counts in full although it
 * uses few disk blocks, which is why `du` is the wrong tool for this limit.
 * Empty directories: no entry and zero bytes (zipDirectory writes no directory entries).
 * Sockets, FIFOs and devices: skipped, a zip cannot hold them.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";

export interface TreeFile {
    /** Path relative to the walked root, forward slashes. */
    rel: string;
    abs: string;
    size: number;
    executable: boolean;
}

export interface WalkResult {
    files: TreeFile[];
    /** Relative paths left out: dangling symlinks, symlink cycles, special files. */
    skipped: string[];
}

export interface WalkOptions {
    /** Glob patterns (see compileExclude) for paths to leave out. */
    exclude?: string[];
}

export function walkTree(root: string, opts: WalkOptions = {}): WalkResult {
    const excluded = compileExclude(opts.exclude ?? []);
    const files: TreeFile[] = [];
    const skipped: string[] = [];
    const visit = (abs: string, rel: string, ancestors: Set<string>) => {
        const names = fs.readdirSync(abs).sort();
        for (const name of names) {
            const childAbs = path.join(abs, name);
            const childRel = rel ? `${rel}/${name}` : name;
            if (excluded(childRel)) continue;
            let st: fs.Stats;
            try {
                st = fs.statSync(childAbs); // follows symlinks
            } catch (e) {
                if ((e as NodeJS.ErrnoException).code === "ENOENT" || (e as NodeJS.ErrnoException).code === "ELOOP") {
                    skipped.push(childRel);
                    continue;
                }
                throw e;
            }
            if (st.isDirectory()) {
                const real = fs.realpathSync(childAbs);
                if (ancestors.has(real)) {
                    skipped.push(childRel);
                    continue;
                }
                const next = new Set(ancestors);
                next.add(real);
                visit(childAbs, childRel, next);
            } else if (st.isFile()) {
                files.push({ rel: childRel, abs: childAbs, size: st.size, executable: (st.mode & 0o111) !== 0 });
            } else {
                skipped.push(childRel);
            }
        }
    };
    visit(root, "", new Set([fs.realpathSync(root)]));
    return { files, skipped };
}

/**
 * Compiles exclude globs. `*` and `?` stay within one path segment, `**` crosses segments. A pattern without a slash
 * matches a name at any depth (like .gitignore: "__pycache__" or "*.pyc"); a pattern with a slash matches the path
 * from the root ("python/bin" or "tests/**"). Excluding a directory excludes everything under it.
 */
export function compileExclude(patterns: string[]): (rel: string) => boolean {
    if (patterns.length === 0) return () => false;
    const compiled = patterns.map((p) => {
        const anchored = p.includes("/");
        const clean = p.replace(/^\/+|\/+$/g, "");
        return { anchored, re: globToRegExp(clean) };
    });
    return (rel: string) => {
        const segments = rel.split("/");
        for (const { anchored, re } of compiled) {
            if (anchored) {
                // The path itself or any ancestor directory of it.
                for (let i = segments.length; i >= 1; i--) if (re.test(segments.slice(0, i).join("/"))) return true;
            } else if (segments.some((s) => re.test(s))) {
                return true;
            }
        }
        return false;
    };
}

export function globToRegExp(glob: string): RegExp {
    let re = "";
    for (let i = 0; i < glob.length; i++) {
        const c = glob[i];
        if (c === "*") {
            if (glob[i + 1] === "*") {
                // "**/" matches zero or more directories; a trailing "**" matches everything below.
                if (glob[i + 2] === "/") {
                    re += "(?:.*/)?";
                    i += 2;
                } else {
                    re += ".*";
                    i += 1;
                }
            } else {
                re += "[^/]*";
            }
        } else if (c === "?") {
            re += "[^/]";
        } else {
            re += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
        }
    }
    return new RegExp(`^${re}$`);
}

/**
 * What a build took as input, with a digest to tell later whether it changed: a directory as the zip of it sees it
 * (names, modes and bytes of the files walkTree keeps, `exclude` applied), or one file's bytes.
 */
export interface BuildSource {
    /** What it is, for messages: "the function's code", "requirements". */
    what: string;
    path: string;
    /** hex sha256; "missing" when the path was not there. */
    sha256: string;
    /** For a directory: the patterns left out, as the build left them out. */
    exclude?: string[];
}

export function sourceDigest(p: string, exclude: string[] = []): string {
    if (!fs.existsSync(p)) return "missing";
    const h = crypto.createHash("sha256");
    if (!fs.statSync(p).isDirectory()) return h.update(fs.readFileSync(p)).digest("hex");
    for (const f of walkTree(p, { exclude }).files) {
        h.update(`${f.rel}\0${f.executable ? 1 : 0}\0${f.size}\0`);
        h.update(fs.readFileSync(f.abs));
        h.update("\0");
    }
    return h.digest("hex");
}

export function buildSource(what: string, p: string, exclude?: string[]): BuildSource {
    return { what, path: path.resolve(p), sha256: sourceDigest(p, exclude), ...(exclude ? { exclude } : {}) };
}
