import * as assert from "assert";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { measureZip, readZipEntries, writeZip, zipDirectory } from "../components/packaging";
import { python, tmpDir, writeFile } from "./packaging-helpers";

function makeTree(root: string): void {
    writeFile(root, "b/z.py", "print('z')\n".repeat(100));
    writeFile(root, "a.py", "import b\n");
    writeFile(root, "b/__init__.py", "");
    writeFile(root, "bin/tool", "#!/bin/sh\n", 0o750);
    writeFile(root, "data/random.bin", crypto.randomBytes(50_000)); // incompressible: stored
    writeFile(root, "ünï/çødé.txt", "utf-8 names\n");
    writeFile(root, "__pycache__/a.cpython-312.pyc", "junk");
    writeFile(root, "b/__pycache__/z.cpython-312.pyc", "junk");
}

describe("packaging: deterministic zip", () => {
    it("builds byte-identical zips from the same tree, whatever the mtimes, modes or creation order", () => {
        const a = tmpDir("det-a");
        makeTree(a);
        const b = tmpDir("det-b");
        // Same content, created in another order, other mtimes, other group/other permission bits.
        for (const rel of ["ünï/çødé.txt", "data/random.bin", "bin/tool", "b/__init__.py", "a.py", "b/z.py", "__pycache__/a.cpython-312.pyc", "b/__pycache__/z.cpython-312.pyc"]) {
            writeFile(b, rel, fs.readFileSync(path.join(a, rel)));
        }
        fs.chmodSync(path.join(b, "bin/tool"), 0o700);
        fs.chmodSync(path.join(b, "a.py"), 0o600);
        fs.utimesSync(path.join(b, "a.py"), new Date("2001-02-03"), new Date("2001-02-03"));
        const out = tmpDir("det-out");
        const z1 = zipDirectory(a, path.join(out, "1.zip"));
        const z2 = zipDirectory(a, path.join(out, "2.zip"));
        const z3 = zipDirectory(b, path.join(out, "3.zip"));
        const bytes1 = fs.readFileSync(path.join(out, "1.zip"));
        assert.ok(bytes1.equals(fs.readFileSync(path.join(out, "2.zip"))), "same tree twice");
        assert.ok(bytes1.equals(fs.readFileSync(path.join(out, "3.zip"))), "same content, other mtimes/modes/order");
        assert.strictEqual(z1.sha256, z2.sha256);
        assert.strictEqual(z1.sha256, z3.sha256);
        assert.strictEqual(z1.sha256, crypto.createHash("sha256").update(bytes1).digest("base64"));
        assert.strictEqual(z1.bytes, bytes1.length);
        // A content change changes the hash (the test can fail).
        writeFile(b, "a.py", "import b  # changed\n");
        assert.notStrictEqual(zipDirectory(b, path.join(out, "4.zip")).sha256, z1.sha256);
    });

    it("sorts entries, fixes timestamps to 1980-01-01 and modes to 0644/0755, writes no directory entries", () => {
        const root = tmpDir("meta");
        makeTree(root);
        const zip = path.join(tmpDir("meta-out"), "m.zip");
        zipDirectory(root, zip, { prefix: "python", exclude: ["__pycache__"] });
        const script = [
            "import sys, zipfile, json",
            "z = zipfile.ZipFile(sys.argv[1])",
            "assert z.testzip() is None",
            "print(json.dumps([[i.filename, i.date_time, oct(i.external_attr >> 16), i.compress_type, len(z.read(i))] for i in z.infolist()]))",
        ].join("\n");
        const r = python(["-c", script, zip]);
        assert.strictEqual(r.status, 0, r.stderr);
        const infos: [string, number[], string, number, number][] = JSON.parse(r.stdout);
        const names = infos.map((i) => i[0]);
        assert.deepStrictEqual(names, ["python/a.py", "python/b/__init__.py", "python/b/z.py", "python/bin/tool", "python/data/random.bin", "python/ünï/çødé.txt"]);
        for (const [name, dt, mode] of infos) {
            assert.deepStrictEqual(dt, [1980, 1, 1, 0, 0, 0], name);
            assert.strictEqual(mode, name === "python/bin/tool" ? "0o100755" : "0o100644", name);
        }
        const byName = new Map(infos.map((i) => [i[0], i]));
        assert.strictEqual(byName.get("python/data/random.bin")![3], 0, "incompressible data is stored");
        assert.strictEqual(byName.get("python/b/z.py")![3], 8, "text is deflated");
        assert.strictEqual(byName.get("python/b/z.py")![4], 1100);
    });

    it("excludes by name at any depth and by anchored path", () => {
        const root = tmpDir("excl");
        makeTree(root);
        const zip = path.join(tmpDir("excl-out"), "e.zip");
        zipDirectory(root, zip, { exclude: ["__pycache__", "*.bin", "b/z.py"] });
        assert.deepStrictEqual(readZipEntries(zip).map((e) => e.name), ["a.py", "b/__init__.py", "bin/tool", "ünï/çødé.txt"]);
    });

    it("writes zip64 end records past 65,535 entries, and Python's zipfile reads them back", () => {
        const zip = path.join(tmpDir("w64"), "w.zip");
        const n = 66_000;
        const sources = Array.from({ length: n }, (_, i) => ({ name: `f/${i}`, executable: false, read: () => Buffer.from(String(i)) }));
        const res = writeZip(zip, sources);
        assert.strictEqual(res.entries, n);
        const m = measureZip(zip);
        assert.strictEqual(m.files, n);
        assert.strictEqual(m.unzippedBytes, res.unzippedBytes);
        const r = python(["-c", "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); print(len(z.infolist()), z.read('f/65999').decode())", zip]);
        assert.strictEqual(r.status, 0, r.stderr);
        assert.strictEqual(r.stdout.trim(), `${n} 65999`);
    });

    it("refuses duplicate entry names", () => {
        const zip = path.join(tmpDir("dup"), "d.zip");
        const s = { name: "x", executable: false, read: () => Buffer.from("1") };
        assert.throws(() => writeZip(zip, [s, { ...s }]), /duplicate entry name "x"/);
    });
});
