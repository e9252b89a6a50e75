/**
 * Deterministic zip writing and central-directory reading, both synchronous.
 *
 * Why a small writer of our own instead of yazl (async streams) or Python's zipfile (a subprocess and a second
 * language on the hot path): the component must know zip-or-image, and the code hash, before it registers any
 * resource, so the call has to be synchronous; Node >= 20.15 has `zlib.crc32` and `deflateRawSync`, which is all a
 * zip writer needs. Determinism comes from the inputs we control: entries sorted by name, every timestamp fixed at
 * 1980-01-01 00:00 (the DOS epoch), modes normalised to 0644 / 0755, no directory entries, no extra fields except
 * zip64 when a size or offset needs it. The compressed bytes depend on zlib's deflate at a fixed level; the same
 * Node (same bundled zlib) always gives the same bytes. A Node upgrade that changes zlib could change them, which
 * only means one redeploy with a new hash.
 *
 * Format reference: PKWARE APPNOTE.TXT 6.3.10, sections 4.3.7 (local header), 4.3.12 (central directory),
 * 4.3.14-4.3.16 (zip64 end records), 4.5.3 (zip64 extra field).
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as zlib from "zlib";

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EXTRA_ID = 0x0001;
const MAX16 = 0xffff;
const MAX32 = 0xffffffff;

/** 1980-01-01 00:00:00 in MS-DOS date/time format: the earliest a zip can express, and the same on every run. */
export const FIXED_DOS_DATE = (0 << 9) | (1 << 5) | 1;
export const FIXED_DOS_TIME = 0;
/** Unix "version made by" so readers honour the mode bits in the external attributes; 4.5 = zip64 capable. */
const VERSION_MADE_BY = (3 << 8) | 45;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFMT = 0o170000;
/** Language encoding flag: names are UTF-8. Always set, so the flags never depend on the names. */
const FLAG_UTF8 = 0x0800;

export interface ZipSource {
    /** Entry name inside the zip, forward slashes, no leading slash. */
    name: string;
    /** Normalised to 0644 or 0755 from the executable bit. */
    executable: boolean;
    /** Called once, when the entry is written, so a large tree is never held in memory at once. */
    read: () => Buffer;
}

export interface ZipWriteResult {
    bytes: number;
    /** base64 sha256 of the zip file: Lambda's CodeSha256 and Pulumi's `sourceCodeHash` format. */
    sha256: string;
    entries: number;
    /** Sum of uncompressed sizes, i.e. what Lambda counts against its unzipped limit. */
    unzippedBytes: number;
}

interface CentralRecord {
    name: Buffer;
    crc: number;
    method: number;
    compressed: number;
    uncompressed: number;
    offset: number;
    externalAttr: number;
}

/** Writes `sources` (sorted here, by name) to `outPath` deterministically. Throws on duplicate names. */
export function writeZip(outPath: string, sources: ZipSource[], opts: { level?: number } = {}): ZipWriteResult {
    const sorted = [...sources].sort((a, b) => compareNames(a.name, b.name));
    for (let i = 1; i < sorted.length; i++) {
        if (sorted[i].name === sorted[i - 1].name) throw new Error(`zip: duplicate entry name "${sorted[i].name}"`);
    }
    const level = opts.level ?? 6;
    const hash = crypto.createHash("sha256");
    const fd = fs.openSync(outPath, "w");
    let offset = 0;
    let unzippedBytes = 0;
    const write = (buf: Buffer) => {
        let done = 0;
        while (done < buf.length) done += fs.writeSync(fd, buf, done, buf.length - done);
        hash.update(buf);
        offset += buf.length;
    };
    const central: CentralRecord[] = [];
    try {
        for (const src of sorted) {
            const data = src.read();
            const crc = zlib.crc32(data) >>> 0;
            const deflated = data.length > 0 ? zlib.deflateRawSync(data, { level }) : Buffer.alloc(0);
            // Store when deflate does not help (already-compressed data, empty files): smaller and just as stable.
            const useDeflate = deflated.length < data.length;
            const payload = useDeflate ? deflated : data;
            const rec: CentralRecord = {
                name: Buffer.from(src.name, "utf8"),
                crc,
                method: useDeflate ? 8 : 0,
                compressed: payload.length,
                uncompressed: data.length,
                offset,
                externalAttr: (((S_IFREG | (src.executable ? 0o755 : 0o644)) << 16) >>> 0),
            };
            write(localHeader(rec));
            write(payload);
            unzippedBytes += data.length;
            central.push(rec);
        }
        const cdOffset = offset;
        for (const rec of central) write(centralHeader(rec));
        const cdSize = offset - cdOffset;
        const needZip64 = central.length >= MAX16 || cdOffset >= MAX32 || cdSize >= MAX32;
        if (needZip64) {
            const z64Offset = offset;
            const rec = Buffer.alloc(56);
            rec.writeUInt32LE(SIG_ZIP64_EOCD, 0);
            rec.writeBigUInt64LE(BigInt(56 - 12), 4);
            rec.writeUInt16LE(VERSION_MADE_BY, 12);
            rec.writeUInt16LE(45, 14);
            rec.writeUInt32LE(0, 16);
            rec.writeUInt32LE(0, 20);
            rec.writeBigUInt64LE(BigInt(central.length), 24);
            rec.writeBigUInt64LE(BigInt(central.length), 32);
            rec.writeBigUInt64LE(BigInt(cdSize), 40);
            rec.writeBigUInt64LE(BigInt(cdOffset), 48);
            write(rec);
            const loc = Buffer.alloc(20);
            loc.writeUInt32LE(SIG_ZIP64_LOCATOR, 0);
            loc.writeUInt32LE(0, 4);
            loc.writeBigUInt64LE(BigInt(z64Offset), 8);
            loc.writeUInt32LE(1, 16);
            write(loc);
        }
        const eocd = Buffer.alloc(22);
        eocd.writeUInt32LE(SIG_EOCD, 0);
        eocd.writeUInt16LE(0, 4);
        eocd.writeUInt16LE(0, 6);
        eocd.writeUInt16LE(Math.min(central.length, MAX16), 8);
        eocd.writeUInt16LE(Math.min(central.length, MAX16), 10);
        eocd.writeUInt32LE(Math.min(cdSize, MAX32), 12);
        eocd.writeUInt32LE(Math.min(cdOffset, MAX32), 16);
        eocd.writeUInt16LE(0, 20);
        write(eocd);
    } finally {
        fs.closeSync(fd);
    }
    return { bytes: offset, sha256: hash.digest("base64"), entries: central.length, unzippedBytes };
}

function compareNames(a: string, b: string): number {
    // Byte order of the UTF-8 names: independent of locale and of JavaScript's UTF-16 ordering.
    return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

function zip64Extra(fields: bigint[]): Buffer {
    if (fields.length === 0) return Buffer.alloc(0);
    const buf = Buffer.alloc(4 + 8 * fields.length);
    buf.writeUInt16LE(ZIP64_EXTRA_ID, 0);
    buf.writeUInt16LE(8 * fields.length, 2);
    fields.forEach((f, i) => buf.writeBigUInt64LE(f, 4 + 8 * i));
    return buf;
}

function localHeader(rec: CentralRecord): Buffer {
    const big = rec.compressed >= MAX32 || rec.uncompressed >= MAX32;
    // APPNOTE 4.5.3: in the local header the zip64 extra holds both sizes, uncompressed first.
    const extra = big ? zip64Extra([BigInt(rec.uncompressed), BigInt(rec.compressed)]) : Buffer.alloc(0);
    const h = Buffer.alloc(30);
    h.writeUInt32LE(SIG_LOCAL, 0);
    h.writeUInt16LE(big ? 45 : 20, 4);
    h.writeUInt16LE(FLAG_UTF8, 6);
    h.writeUInt16LE(rec.method, 8);
    h.writeUInt16LE(FIXED_DOS_TIME, 10);
    h.writeUInt16LE(FIXED_DOS_DATE, 12);
    h.writeUInt32LE(rec.crc, 14);
    h.writeUInt32LE(big ? MAX32 : rec.compressed, 18);
    h.writeUInt32LE(big ? MAX32 : rec.uncompressed, 22);
    h.writeUInt16LE(rec.name.length, 26);
    h.writeUInt16LE(extra.length, 28);
    return Buffer.concat([h, rec.name, extra]);
}

function centralHeader(rec: CentralRecord): Buffer {
    const fields: bigint[] = [];
    if (rec.uncompressed >= MAX32) fields.push(BigInt(rec.uncompressed));
    if (rec.compressed >= MAX32) fields.push(BigInt(rec.compressed));
    if (rec.offset >= MAX32) fields.push(BigInt(rec.offset));
    const extra = zip64Extra(fields);
    const h = Buffer.alloc(46);
    h.writeUInt32LE(SIG_CENTRAL, 0);
    h.writeUInt16LE(VERSION_MADE_BY, 4);
    h.writeUInt16LE(fields.length > 0 ? 45 : 20, 6);
    h.writeUInt16LE(FLAG_UTF8, 8);
    h.writeUInt16LE(rec.method, 10);
    h.writeUInt16LE(FIXED_DOS_TIME, 12);
    h.writeUInt16LE(FIXED_DOS_DATE, 14);
    h.writeUInt32LE(rec.crc, 16);
    h.writeUInt32LE(Math.min(rec.compressed, MAX32), 20);
    h.writeUInt32LE(Math.min(rec.uncompressed, MAX32), 24);
    h.writeUInt16LE(rec.name.length, 28);
    h.writeUInt16LE(extra.length, 30);
    h.writeUInt16LE(0, 32); // comment length
    h.writeUInt16LE(0, 34); // disk number start
    h.writeUInt16LE(0, 36); // internal attributes
    h.writeUInt32LE(rec.externalAttr, 38);
    h.writeUInt32LE(Math.min(rec.offset, MAX32), 42);
    return Buffer.concat([h, rec.name, extra]);
}

// ---------------------------------------------------------------------------------------------------------------
// Reading

export interface ZipEntry {
    name: string;
    /** Uncompressed size as the central directory records it (zip64 aware). */
    size: number;
    compressedSize: number;
    method: number;
    localHeaderOffset: number;
    isDirectory: boolean;
    isSymlink: boolean;
    /** Unix mode (type and permission bits) from the external attributes; 0 when the zip was not made on Unix. */
    mode: number;
    /** Modification time from the entry's MS-DOS date and time (no time zone in a zip: read as UTC). */
    modified: Date;
}

/** MS-DOS date and time (APPNOTE 4.4.6) as a Date, read as UTC. */
export function dosDateTime(date: number, time: number): Date {
    return new Date(Date.UTC(1980 + (date >> 9), ((date >> 5) & 0x0f) - 1, date & 0x1f, time >> 11, (time >> 5) & 0x3f, (time & 0x1f) * 2));
}

/** Reads the central directory of a zip file (zip64 aware) without reading the entries' data. */
export function readZipEntries(zipPath: string): ZipEntry[] {
    const fd = fs.openSync(zipPath, "r");
    try {
        const fileSize = fs.fstatSync(fd).size;
        const tailLen = Math.min(fileSize, 22 + 0xffff);
        const tail = readAt(fd, fileSize - tailLen, tailLen);
        let eocdPos = -1;
        for (let i = tail.length - 22; i >= 0; i--) {
            if (tail.readUInt32LE(i) === SIG_EOCD && i + 22 + tail.readUInt16LE(i + 20) === tail.length) {
                eocdPos = i;
                break;
            }
        }
        if (eocdPos < 0) throw new Error(`${zipPath}: not a zip file (no end of central directory record)`);
        let count = tail.readUInt16LE(eocdPos + 10);
        let cdSize = tail.readUInt32LE(eocdPos + 12);
        let cdOffset = tail.readUInt32LE(eocdPos + 16);
        const locPos = eocdPos - 20;
        if (locPos >= 0 && tail.readUInt32LE(locPos) === SIG_ZIP64_LOCATOR) {
            const z64Offset = Number(tail.readBigUInt64LE(locPos + 8));
            const z64 = readAt(fd, z64Offset, 56);
            if (z64.readUInt32LE(0) !== SIG_ZIP64_EOCD) throw new Error(`${zipPath}: bad zip64 end of central directory`);
            count = Number(z64.readBigUInt64LE(32));
            cdSize = Number(z64.readBigUInt64LE(40));
            cdOffset = Number(z64.readBigUInt64LE(48));
        }
        const cd = readAt(fd, cdOffset, cdSize);
        const entries: ZipEntry[] = [];
        let p = 0;
        for (let i = 0; i < count; i++) {
            if (cd.readUInt32LE(p) !== SIG_CENTRAL) throw new Error(`${zipPath}: bad central directory entry ${i}`);
            const madeBy = cd.readUInt16LE(p + 4) >> 8;
            const flags = cd.readUInt16LE(p + 8);
            const method = cd.readUInt16LE(p + 10);
            const dosTime = cd.readUInt16LE(p + 12);
            const dosDate = cd.readUInt16LE(p + 14);
            let compressedSize = cd.readUInt32LE(p + 20);
            let size = cd.readUInt32LE(p + 24);
            const nameLen = cd.readUInt16LE(p + 28);
            const extraLen = cd.readUInt16LE(p + 30);
            const commentLen = cd.readUInt16LE(p + 32);
            const externalAttr = cd.readUInt32LE(p + 38);
            let localHeaderOffset = cd.readUInt32LE(p + 42);
            const nameBuf = cd.subarray(p + 46, p + 46 + nameLen);
            const name = nameBuf.toString(flags & FLAG_UTF8 ? "utf8" : "latin1");
            const extra = cd.subarray(p + 46 + nameLen, p + 46 + nameLen + extraLen);
            // APPNOTE 4.5.3: the zip64 extra holds only the fields that overflowed, in this order.
            for (let q = 0; q + 4 <= extra.length; ) {
                const id = extra.readUInt16LE(q);
                const len = extra.readUInt16LE(q + 2);
                if (id === ZIP64_EXTRA_ID) {
                    let r = q + 4;
                    if (size === MAX32) { size = Number(extra.readBigUInt64LE(r)); r += 8; }
                    if (compressedSize === MAX32) { compressedSize = Number(extra.readBigUInt64LE(r)); r += 8; }
                    if (localHeaderOffset === MAX32) { localHeaderOffset = Number(extra.readBigUInt64LE(r)); r += 8; }
                }
                q += 4 + len;
            }
            const unixMode = madeBy === 3 ? externalAttr >>> 16 : 0;
            entries.push({
                name,
                size,
                compressedSize,
                method,
                localHeaderOffset,
                isDirectory: name.endsWith("/"),
                isSymlink: (unixMode & S_IFMT) === S_IFLNK,
                mode: unixMode,
                modified: dosDateTime(dosDate, dosTime),
            });
            p += 46 + nameLen + extraLen + commentLen;
        }
        return entries;
    } finally {
        fs.closeSync(fd);
    }
}

/** Reads and inflates one entry's data (used for small metadata files such as RECORD and METADATA). */
export function readZipEntryData(zipPath: string, entry: ZipEntry): Buffer {
    const fd = fs.openSync(zipPath, "r");
    try {
        const h = readAt(fd, entry.localHeaderOffset, 30);
        if (h.readUInt32LE(0) !== SIG_LOCAL) throw new Error(`${zipPath}: bad local header for ${entry.name}`);
        const start = entry.localHeaderOffset + 30 + h.readUInt16LE(26) + h.readUInt16LE(28);
        const raw = readAt(fd, start, entry.compressedSize);
        if (entry.method === 0) return raw;
        if (entry.method === 8) return zlib.inflateRawSync(raw);
        throw new Error(`${zipPath}: ${entry.name} uses unsupported compression method ${entry.method}`);
    } finally {
        fs.closeSync(fd);
    }
}

function readAt(fd: number, position: number, length: number): Buffer {
    const buf = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
        const n = fs.readSync(fd, buf, done, length - done, position + done);
        if (n === 0) throw new Error(`unexpected end of file at ${position + done}`);
        done += n;
    }
    return buf;
}
