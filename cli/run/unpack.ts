/**
 * Zips unpacked the way Lambda unpacks them, once per content: `<cacheDir>/run/unpacked/<sha256 of the zip>/tree/`
 * (the marker that says the unpack finished sits beside tree/, never inside what the function sees).
 * Modes come from the zip's Unix attributes (Lambda keeps POSIX permissions, so a file the zip makes unreadable is
 * unreadable there too), modification times from its DOS timestamps, symlinks stay symlinks. The directory is
 * written under a temporary name and renamed into place with a marker, so an interrupted unpack is never reused.
 */
import * as fs from "fs";
import * as path from "path";
import { readZipEntries, readZipEntryData } from "../../components/packaging/zip";
import { RunError } from "./types";

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const MARKER = ".ml-lambda-unpacked";

export function unpackedDir(cacheDir: string, sha256: string): string {
    return path.join(cacheDir, "run", "unpacked", sha256, "tree");
}

/** Entry names that would leave the directory: refused (Lambda refuses such zips too). */
export function unsafeName(name: string): boolean {
    return name.startsWith("/") || name.includes("\\") || name.split("/").includes("..");
}

export async function unpackZip(zipPath: string, sha256: string, cacheDir: string, log: (l: string) => void = () => undefined): Promise<string> {
    const entry = path.dirname(unpackedDir(cacheDir, sha256));
    const dir = unpackedDir(cacheDir, sha256);
    if (fs.existsSync(path.join(entry, MARKER))) {
        touch(entry);
        return dir;
    }
    fs.mkdirSync(path.dirname(entry), { recursive: true });
    const work = `${entry}.tmp-${process.pid}-${Date.now()}`;
    const tmp = path.join(work, "tree");
    const started = Date.now();
    log(`ml-lambda: unpacking ${path.basename(zipPath)} (${(fs.statSync(zipPath).size / 1e6).toFixed(1)} MB) into ${dir} (once per content)`);
    fs.mkdirSync(tmp, { recursive: true });
    const dirTimes: Array<[string, Date]> = [];
    try {
        // The package's own zip reader (components/packaging/zip.ts): one entry in memory at a time.
        let files = 0;
        for (const z of readZipEntries(zipPath)) {
            const name = z.name;
            if (unsafeName(name)) throw new RunError(`${zipPath}: entry "${name}" would leave the function's directory; Lambda refuses such a zip too`, 1);
            const mode = z.mode;
            const madeByUnix = mode !== 0;
            const mtime = z.modified;
            const dest = path.join(tmp, name);
            if (z.isDirectory || (mode & S_IFMT) === S_IFDIR) {
                fs.mkdirSync(dest, { recursive: true });
                fs.chmodSync(dest, (mode & 0o7777) || 0o755);
                dirTimes.push([dest, mtime]);
                continue;
            }
            fs.mkdirSync(path.dirname(dest), { recursive: true });
            const data = readZipEntryData(zipPath, z);
            if (z.isSymlink) {
                fs.symlinkSync(data.toString("utf8"), dest);
                continue;
            }
            if (data.length !== z.size) throw new RunError(`${zipPath}: ${name} unpacked to ${data.length} bytes, the zip says ${z.size}`, 1);
            fs.writeFileSync(dest, data, { mode: 0o600 });
            // Without Unix attributes (a zip made elsewhere), Lambda's default is a readable, non-executable file.
            fs.chmodSync(dest, madeByUnix ? (mode & 0o7777) : 0o644);
            fs.utimesSync(dest, mtime, mtime);
            files++;
        }
        // Implicit parent directories get Lambda's 0755; explicit ones keep theirs (set above).
        for (const [d, t] of dirTimes.reverse()) fs.utimesSync(d, t, t);
        fs.chmodSync(tmp, 0o755); // Lambda's /var/task and /opt are 0755
        fs.writeFileSync(path.join(work, MARKER), `${sha256}\n`);
        fs.rmSync(entry, { recursive: true, force: true }); // a damaged entry without the marker
        try {
            fs.renameSync(work, entry);
        } catch (e) {
            if (!fs.existsSync(path.join(entry, MARKER))) throw e; // a concurrent unpack of the same zip finished first
        }
        log(`ml-lambda: unpacked ${files} files in ${((Date.now() - started) / 1000).toFixed(1)} s`);
        return dir;
    } catch (e) {
        if (e instanceof RunError) throw e;
        throw new RunError(`cannot unpack ${zipPath}: ${(e as Error).message}`, 1);
    } finally {
        fs.rmSync(work, { recursive: true, force: true });
    }
}

function touch(dir: string): void {
    const now = new Date();
    try {
        fs.utimesSync(path.join(dir, MARKER), now, now);
    } catch {
        // read-only cache: the pruning order only gets less precise
    }
}

/** Keeps the `keep` most recently used unpacked zips, removes the rest (each is a layer's worth of disk). */
export function pruneUnpacked(cacheDir: string, keep = 8): string[] {
    const root = path.join(cacheDir, "run", "unpacked");
    let names: string[];
    try {
        names = fs.readdirSync(root).filter((n) => /^[0-9a-f]{64}$/.test(n));
    } catch {
        return [];
    }
    const used = names.map((n) => {
        let t = 0;
        try {
            t = fs.statSync(path.join(root, n, MARKER)).mtimeMs;
        } catch {
            t = 0;
        }
        return { n, t };
    }).sort((a, b) => b.t - a.t);
    const removed = used.slice(keep).map((u) => u.n);
    for (const n of removed) fs.rmSync(path.join(root, n), { recursive: true, force: true });
    return removed;
}
