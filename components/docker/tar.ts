/**
 * A build context as an uncompressed tar, written here rather than with a dependency: regular files and
 * directories only (the staged context holds nothing else), entries owned by 0:0 with their modes and mtimes, as
 * pulumi-docker's archive.TarWithOptions(ChownOpts 0:0) sends it. POSIX ustar; a name that does not fit the
 * 100 + 155 byte fields gets a PAX header.
 */
import * as fs from "fs";
import * as path from "path";

const BLOCK = 512;

function octal(n: number, width: number): string {
    return n.toString(8).padStart(width - 1, "0") + "\0";
}

function header(name: string, opts: { mode: number; size: number; mtime: number; type: "0" | "5" | "x" }): Buffer {
    const h = Buffer.alloc(BLOCK, 0);
    let base = name;
    let prefix = "";
    if (Buffer.byteLength(name) > 100) {
        const cut = name.lastIndexOf("/", 155);
        if (cut > 0 && Buffer.byteLength(name.slice(cut + 1)) <= 100 && Buffer.byteLength(name.slice(0, cut)) <= 155) {
            prefix = name.slice(0, cut);
            base = name.slice(cut + 1);
        } else {
            base = name.slice(0, 100); // the PAX record before this header carries the full name
        }
    }
    h.write(base, 0, 100, "utf8");
    h.write(octal(opts.mode & 0o7777, 8), 100, "ascii");
    h.write(octal(0, 8), 108, "ascii"); // uid
    h.write(octal(0, 8), 116, "ascii"); // gid
    h.write(octal(opts.size, 12), 124, "ascii");
    h.write(octal(Math.floor(opts.mtime), 12), 136, "ascii");
    h.write("        ", 148, "ascii"); // checksum placeholder
    h.write(opts.type, 156, "ascii");
    h.write("ustar\0", 257, "ascii");
    h.write("00", 263, "ascii");
    h.write(prefix, 345, 155, "utf8");
    let sum = 0;
    for (const b of h) sum += b;
    h.write(octal(sum, 7) + " ", 148, "ascii");
    return h;
}

function pad(size: number): Buffer {
    const rest = size % BLOCK;
    return rest ? Buffer.alloc(BLOCK - rest, 0) : Buffer.alloc(0);
}

function paxRecord(key: string, value: string): Buffer {
    const body = ` ${key}=${value}\n`;
    let len = Buffer.byteLength(body);
    let total = len + String(len).length;
    if (String(total).length !== String(len).length) total = len + String(total).length;
    return Buffer.from(`${total}${body}`, "utf8");
}

function entry(out: Buffer[], name: string, st: fs.Stats, data?: Buffer): void {
    const type = st.isDirectory() ? "5" : "0";
    const needsPax = Buffer.byteLength(name) > 100 && !(name.lastIndexOf("/", 155) > 0 && Buffer.byteLength(name.slice(name.lastIndexOf("/", 155) + 1)) <= 100);
    if (needsPax) {
        const rec = paxRecord("path", name);
        out.push(header(`PaxHeaders/${path.basename(name)}`.slice(0, 100), { mode: 0o644, size: rec.length, mtime: st.mtimeMs / 1000, type: "x" }), rec, pad(rec.length));
    }
    const size = data ? data.length : 0;
    out.push(header(name, { mode: st.mode, size, mtime: st.mtimeMs / 1000, type }));
    if (data) out.push(data, pad(size));
}

/** The directory's files and subdirectories, sorted, as a tar. Symlinks and special files are refused. */
export function tarDirectory(dir: string): Buffer {
    const out: Buffer[] = [];
    const walk = (rel: string): void => {
        for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
            const r = rel ? `${rel}/${name}` : name;
            const full = path.join(dir, r);
            const st = fs.lstatSync(full);
            if (st.isDirectory()) {
                entry(out, `${r}/`, st);
                walk(r);
            } else if (st.isFile()) {
                entry(out, r, st, fs.readFileSync(full));
            } else {
                throw new Error(`${full}: not a regular file or directory; a build context here holds only those`);
            }
        }
    };
    walk("");
    out.push(Buffer.alloc(BLOCK * 2, 0));
    return Buffer.concat(out);
}
