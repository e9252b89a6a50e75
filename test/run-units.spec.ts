/**
 * The faithful run's pure parts, without starting anything: the function's environment, the sandbox script,
 * CPU lists, the emulator's log lines, interpreter discovery (on fake interpreters), unpacking (modes, times, cache,
 * unsafe names), and the runtime directory's pinned inputs.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { writeZip } from "../components/packaging";
import { findRuntimePython, layoutProblem } from "../cli/run/python";
import { bindConflict, initReportMs, invokeRtDoneMs } from "../cli/run/report";
import { ephemeralRange, FREE_PORT_LOW, freePort } from "../cli/proc";
import { lambdaEnvironment, logStreamName } from "../cli/run/environment";
import { cpuList, parseCpuList, sandboxScript, SandboxPlan, vcpuShare } from "../cli/run/sandbox";
import { RIE_VERSION, RUNTIME_FILES, RUNTIME_PACKAGES, runtimeFilesDir } from "../cli/run/tools";
import type { DeployedFunction } from "../cli/run/types";
import { RunError } from "../cli/run/types";
import { pruneUnpacked, unpackZip, unsafeName } from "../cli/run/unpack";
import { REPO } from "./paths";

function tmpdir(prefix = "run-units-"): string {
    return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function sampleFunction(over: Partial<DeployedFunction> = {}): DeployedFunction {
    return {
        name: "ml-lambda-dev-embeddings",
        packageType: "Zip",
        runtime: "python3.12",
        handler: "app.handler.lambda_handler",
        architecture: "x86_64",
        memoryMb: 1769,
        timeoutS: 60,
        ephemeralStorageMb: 512,
        region: "eu-west-1",
        environment: { MODEL_BUCKET: "b", MODEL_KEY: "models/x.tar.gz", MODEL_SHA256: "a".repeat(64), LANG: "C.UTF-8" },
        logging: { format: "JSON", applicationLogLevel: "INFO", logGroup: "/aws/lambda/ml-lambda-dev-embeddings" },
        code: { zip: "/c.zip" },
        layers: [{ zip: "/l.zip" }],
        s3Objects: [],
        ...over,
    };
}

function plan(over: Partial<SandboxPlan> = {}): SandboxPlan {
    return {
        mountPoint: "/cache/run/mnt/root", scratchPoint: "/cache/run/mnt/scratch", code: "/u/code", layers: ["/u/layer1"],
        pythonPrefix: "/py/3.12.1", pythonMinor: "3.12", runtimeDir: "/cache/run/runtime/x/runtime", sitePackagesDir: "/cache/run/runtime/x/site-packages", passwdFile: "/cache/run/etc-passwd",
        groupFile: "/cache/run/etc-group", ephemeralStorageMb: 512, extraMounts: [],
        tools: { mount: "/usr/bin/mount", chroot: "/usr/sbin/chroot", setpriv: "/usr/bin/setpriv", rie: "/t/aws-lambda-rie" },
        dropPrivileges: true, ports: { emulator: 9001, runtimeApi: 9002 }, handler: "app.handler.lambda_handler", ...over,
    };
}

describe("faithful run: pure parts", () => {
    describe("the function's environment", () => {
        const env = lambdaEnvironment(sampleFunction(), { runtime: "python3.12", s3Endpoint: "http://127.0.0.1:5000", logStream: "2026/11/30/[$LATEST]abc" });

        it("has Lambda's reserved variables, from the function's settings", () => {
            for (const [k, v] of Object.entries({
                _HANDLER: "app.handler.lambda_handler", AWS_REGION: "eu-west-1", AWS_DEFAULT_REGION: "eu-west-1",
                AWS_EXECUTION_ENV: "AWS_Lambda_python3.12", AWS_LAMBDA_FUNCTION_NAME: "ml-lambda-dev-embeddings",
                AWS_LAMBDA_FUNCTION_MEMORY_SIZE: "1769", AWS_LAMBDA_FUNCTION_VERSION: "$LATEST", AWS_LAMBDA_INITIALIZATION_TYPE: "on-demand",
                AWS_LAMBDA_LOG_GROUP_NAME: "/aws/lambda/ml-lambda-dev-embeddings", AWS_LAMBDA_LOG_STREAM_NAME: "2026/11/30/[$LATEST]abc",
                LAMBDA_TASK_ROOT: "/var/task", LAMBDA_RUNTIME_DIR: "/var/runtime", TZ: ":UTC",
                PATH: "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin",
                LD_LIBRARY_PATH: "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib",
                AWS_LAMBDA_LOG_FORMAT: "JSON", AWS_LAMBDA_LOG_LEVEL: "INFO",
            })) assert.strictEqual(env[k], v, k);
            assert.ok(env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY && env.AWS_SESSION_TOKEN);
            assert.ok(!("PYTHONPATH" in env), "bootstrap.py sets it after building the search path (a function's own PYTHONPATH changes that path)");
        });

        it("passes the function's variables verbatim (an unreserved default like LANG is overridden, as on Lambda)", () => {
            assert.strictEqual(env.MODEL_BUCKET, "b");
            assert.strictEqual(env.MODEL_KEY, "models/x.tar.gz");
            assert.strictEqual(env.MODEL_SHA256, "a".repeat(64));
            assert.strictEqual(env.LANG, "C.UTF-8");
        });

        it("adds only the local S3 endpoint and the emulator's timeout, and nothing from this machine", () => {
            assert.strictEqual(env.AWS_ENDPOINT_URL_S3, "http://127.0.0.1:5000");
            assert.strictEqual(env.AWS_LAMBDA_FUNCTION_TIMEOUT, "60");
            for (const k of ["HOME", "USER", "PIP_FIND_LINKS", "PYENV_ROOT", "NODE_OPTIONS", "ML_LAMBDA_PROBE"]) assert.ok(!(k in env), k);
            assert.strictEqual(lambdaEnvironment(sampleFunction(), { logStream: "s", probe: true }).ML_LAMBDA_PROBE, "1");
        });

        it("a reserved name among the function's variables is ignored (Lambda refuses it at deploy)", () => {
            const e = lambdaEnvironment(sampleFunction({ environment: { AWS_REGION: "us-east-1", TZ: "Europe/Paris", MODEL_NAME: "m" } }), { runtime: "python3.12", logStream: "s" });
            assert.deepStrictEqual([e.AWS_REGION, e.TZ, e.MODEL_NAME], ["eu-west-1", ":UTC", "m"]);
        });

        it("an image gets the platform's variables, not a managed runtime's (its base image sets those)", () => {
            const e = lambdaEnvironment(sampleFunction(), { logStream: "s" });
            for (const k of ["AWS_EXECUTION_ENV", "LAMBDA_TASK_ROOT", "PATH", "LD_LIBRARY_PATH", "PYTHONPATH"]) assert.ok(!(k in e), k);
            assert.strictEqual(e.AWS_LAMBDA_FUNCTION_NAME, "ml-lambda-dev-embeddings");
        });

        it("text logging sets no log-format variables", () => {
            const text = lambdaEnvironment(sampleFunction({ logging: { format: "Text" } }), { runtime: "python3.12", logStream: "s" });
            assert.ok(!("AWS_LAMBDA_LOG_FORMAT" in text) && !("AWS_LAMBDA_LOG_LEVEL" in text));
            assert.strictEqual(text.AWS_LAMBDA_LOG_GROUP_NAME, "/aws/lambda/ml-lambda-dev-embeddings");
        });

        it("names log streams and vCPU shares like Lambda", () => {
            assert.strictEqual(logStreamName(new Date("2026-11-30T04:00:00Z"), "f".repeat(32)), `2026/11/30/[$LATEST]${"f".repeat(32)}`);
            assert.strictEqual(vcpuShare(1769), 1);
            assert.ok(Math.abs(vcpuShare(3008) - 1.7) < 0.01);
        });
    });

    describe("the sandbox script", () => {
        const script = sandboxScript(plan());
        const lines = script.trim().split("\n");

        it("mounts code and the single layer read-only, /tmp as a tmpfs of the ephemeral size, the runtime-included libraries over the interpreter's site-packages", () => {
            assert.ok(lines.includes("'/usr/bin/mount' --bind '/u/code' '/cache/run/mnt/root/var/task'"));
            assert.ok(lines.includes("'/usr/bin/mount' -o remount,bind,ro '/cache/run/mnt/root/var/task'"));
            assert.ok(lines.includes("'/usr/bin/mount' --bind '/u/layer1' '/cache/run/mnt/root/opt'"));
            assert.ok(lines.includes("'/usr/bin/mount' -o remount,bind,ro '/cache/run/mnt/root/opt'"));
            assert.ok(lines.includes("'/usr/bin/mount' -t tmpfs -o size=512m,mode=1777 ml-lambda-tmp '/cache/run/mnt/root/tmp'"));
            assert.ok(lines.includes("'/usr/bin/mount' --bind '/cache/run/runtime/x/site-packages' '/cache/run/mnt/root/var/lang/lib/python3.12/site-packages'"), "the interpreter's own site-packages is replaced");
            assert.ok(lines.includes("'/usr/bin/mount' --bind '/cache/run/runtime/x/runtime' '/cache/run/mnt/root/var/runtime'"));
            assert.ok(lines.includes("'/usr/bin/mount' -o remount,bind,ro '/cache/run/mnt/root/var/lang'"));
            assert.ok(lines.includes("'/usr/bin/mount' -o remount,bind,ro '/cache/run/mnt/root/var/runtime'"));
            assert.ok(lines.includes("'/usr/bin/mount' -o remount,ro '/cache/run/mnt/root'"), "the root itself is read-only");
            assert.ok(!script.includes("/dev/shm"), "no /dev/shm, as on Lambda");
        });

        it("execs the emulator last, which enters the root as Lambda's sandbox user; the handler is the last argument", () => {
            const last = lines[lines.length - 1];
            assert.match(last, /^exec '\/usr\/bin\/setpriv' '--pdeathsig' 'KILL' '\/t\/aws-lambda-rie' '--runtime-interface-emulator-address' '127\.0\.0\.1:9001' '--runtime-api-address' '127\.0\.0\.1:9002' '\/usr\/sbin\/chroot' '\/cache\/run\/mnt\/root' '\/usr\/bin\/setpriv' '--reuid=993' '--regid=990' '--clear-groups'/);
            assert.ok(last.endsWith("'/var/runtime/bootstrap' 'app.handler.lambda_handler'"), last);
            assert.ok(!sandboxScript(plan({ dropPrivileges: false })).includes("--reuid"), "the userns runner keeps the mapped user");
        });

        it("several layers: a read-only overlay, the last layer on top, a scratch layer at the bottom", () => {
            const s = sandboxScript(plan({ layers: ["/u/l1", "/u/l2", "/u/l3"] }));
            assert.ok(s.includes("-t overlay -o ro,lowerdir='/u/l3:/u/l2:/u/l1:/cache/run/mnt/scratch' ml-lambda-opt '/cache/run/mnt/root/opt'"), s);
        });

        it("an extra mount under /opt gets its mount point from the scratch layer", () => {
            const s = sandboxScript(plan({ extraMounts: [{ source: "/m/model", target: "/opt/ml/model" }] }));
            assert.ok(s.includes("mkdir -p '/cache/run/mnt/scratch/ml/model'"));
            assert.ok(s.includes("--bind '/m/model' '/cache/run/mnt/root/opt/ml/model'"));
            assert.ok(s.indexOf("ml-lambda-opt") < s.indexOf("/m/model'"), "mounted over the overlay, after it");
        });

        it("joins the CPU-quota cgroup before anything starts, when one is set", () => {
            assert.strictEqual(sandboxScript(plan({ cgroupProcs: "/sys/fs/cgroup/cpu/ml-lambda-1/cgroup.procs" })).split("\n")[1], "echo $$ > '/sys/fs/cgroup/cpu/ml-lambda-1/cgroup.procs'");
            assert.ok(!sandboxScript(plan()).includes("cgroup.procs"));
        });

        it("quotes paths for sh", () => {
            assert.ok(sandboxScript(plan({ code: "/it's here" })).includes(`'/it'\\''s here'`));
        });
    });

    describe("CPU lists and the emulator's log lines", () => {
        it("parses Cpus_allowed_list and takes the first N", () => {
            assert.deepStrictEqual(parseCpuList("0-3,6,8-9"), [0, 1, 2, 3, 6, 8, 9]);
            assert.strictEqual(cpuList([2, 3, 5], 2), "2,3");
        });
        it("reads INIT REPORT and INVOKE RTDONE (aws-lambda-rie " + RIE_VERSION + ")", () => {
            assert.strictEqual(initReportMs("30 Nov 2026 04:11:35,368 [INFO] (rapid) INIT REPORT(durationMs: 5546.683000)"), 5546.683);
            assert.strictEqual(invokeRtDoneMs("30 Nov 2026 04:11:21,252 [INFO] (rapid) INVOKE RTDONE(status: success, produced bytes: 0, duration: 9.395000ms)"), 9.395);
            assert.strictEqual(invokeRtDoneMs("INIT RTDONE(status: success)"), undefined);
        });
        it("finds the address the emulator could not bind in its panic (the line CI printed)", () => {
            const log = "30 Nov 2026 09:38:46,497 [PANIC] (rapid) Runtime API Server failed to listen error=listen tcp 127.0.0.1:44015: bind: address already in use\npanic: (*logrus.Entry) 0x2b6f592e6150";
            assert.strictEqual(bindConflict(log), "127.0.0.1:44015");
            assert.strictEqual(bindConflict("[INFO] (rapid) exec '/usr/sbin/chroot'"), undefined);
        });
        it("pins the same emulator version as scripts/setup-python.sh", () => {
            assert.match(fs.readFileSync(path.join(REPO, "scripts", "setup-python.sh"), "utf8"), new RegExp(`RIE_VERSION="${RIE_VERSION}"`));
        });
        it("pins every runtime package (with what they pull in) and ships its bootstrap files", () => {
            for (const p of RUNTIME_PACKAGES) assert.match(p, /^[a-z0-9-]+==[0-9][0-9a-z.]*$/, p);
            for (const f of RUNTIME_FILES) assert.ok(fs.existsSync(path.join(runtimeFilesDir(), f)), f);
            assert.ok((fs.statSync(path.join(runtimeFilesDir(), "bootstrap")).mode & 0o111) !== 0, "bootstrap is executable");
        });
    });

    describe("choosing ports", () => {
        it("reads the kernel's ephemeral range, and falls back to the IANA one", () => {
            const dir = tmpdir();
            fs.writeFileSync(path.join(dir, "r"), "32768\t60999\n");
            assert.deepStrictEqual(ephemeralRange(path.join(dir, "r")), [32768, 60999]);
            fs.writeFileSync(path.join(dir, "bad"), "x y\n");
            assert.deepStrictEqual(ephemeralRange(path.join(dir, "bad")), [49152, 65535]);
            assert.deepStrictEqual(ephemeralRange(path.join(dir, "missing")), [49152, 65535]);
        });
        it("hands out ports below the ephemeral range (never a source port the kernel may give), each once", async () => {
            const dir = tmpdir();
            fs.writeFileSync(path.join(dir, "r"), "12000 60999\n");
            const ports: number[] = [];
            for (let i = 0; i < 200; i++) ports.push(await freePort(path.join(dir, "r")));
            for (const p of ports) assert.ok(p >= FREE_PORT_LOW && p < 12000, String(p));
            assert.strictEqual(new Set(ports).size, ports.length, "no port handed out twice");
        });
        it("takes the kernel's choice when the range below is too small", async () => {
            const dir = tmpdir();
            fs.writeFileSync(path.join(dir, "r"), `${FREE_PORT_LOW + 10} 60999\n`);
            const p = await freePort(path.join(dir, "r"));
            assert.ok(p > 0 && (p < FREE_PORT_LOW || p >= FREE_PORT_LOW + 10), String(p));
        });
    });

    describe("finding the runtime's interpreter", () => {
        /** A fake CPython installation: bin/python3.X prints the version and its prefix like the probe expects. */
        function fakePython(root: string, version: string): string {
            const minor = version.split(".").slice(0, 2).join(".");
            fs.mkdirSync(path.join(root, "bin"), { recursive: true });
            fs.mkdirSync(path.join(root, "lib", `python${minor}`), { recursive: true });
            fs.writeFileSync(path.join(root, "lib", `python${minor}`, "os.py"), "");
            const exe = path.join(root, "bin", `python${minor}`);
            fs.writeFileSync(exe, `#!/bin/sh\necho ${version}\necho ${root}\n`, { mode: 0o755 });
            return exe;
        }
        const isolated = (dir: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ PATH: path.join(dir, "bin-empty"), HOME: path.join(dir, "home"), ...extra });

        it("takes ML_LAMBDA_RUNTIME_PYTHON when it is the runtime's version", () => {
            const dir = tmpdir();
            const exe = fakePython(path.join(dir, "py"), "3.12.7");
            const p = findRuntimePython("python3.12", isolated(dir, { ML_LAMBDA_RUNTIME_PYTHON: exe }));
            assert.deepStrictEqual([p.via, p.version, p.prefix], ["ML_LAMBDA_RUNTIME_PYTHON", "3.12.7", path.join(dir, "py")]);
        });

        it("refuses ML_LAMBDA_RUNTIME_PYTHON of another version, naming the one needed and how to get it", () => {
            const dir = tmpdir();
            const exe = fakePython(path.join(dir, "py"), "3.13.0");
            assert.throws(() => findRuntimePython("python3.12", isolated(dir, { ML_LAMBDA_RUNTIME_PYTHON: exe })),
                (e: Error) => e instanceof RunError && /is Python 3\.13\.0, but the function's runtime is python3\.12 \(needs 3\.12\.x\)/.test(e.message) &&
                    /pyenv install 3\.12/.test(e.message) && /uv python install 3\.12/.test(e.message));
            assert.throws(() => findRuntimePython("python3.12", isolated(dir, { ML_LAMBDA_RUNTIME_PYTHON: path.join(dir, "nope") })), /does not run/);
        });

        it("then pyenv: the newest 3.12.x under PYENV_ROOT, never 3.13", () => {
            const dir = tmpdir();
            for (const v of ["3.12.1", "3.12.10", "3.12.9", "3.13.0"]) fakePython(path.join(dir, "pyenv", "versions", v), v);
            const p = findRuntimePython("python3.12", isolated(dir, { PYENV_ROOT: path.join(dir, "pyenv") }));
            assert.deepStrictEqual([p.via, p.version], ["pyenv", "3.12.10"]);
            assert.strictEqual(findRuntimePython("python3.13", isolated(dir, { PYENV_ROOT: path.join(dir, "pyenv") })).version, "3.13.0");
        });

        it("then `uv python find`", () => {
            const dir = tmpdir();
            const exe = fakePython(path.join(dir, "uvpy"), "3.12.4");
            fs.mkdirSync(path.join(dir, "bin-empty"), { recursive: true });
            fs.writeFileSync(path.join(dir, "bin-empty", "uv"), `#!/bin/sh\n[ "$1 $2 $3" = "python find 3.12" ] && echo ${exe}\n`, { mode: 0o755 });
            const p = findRuntimePython("python3.12", isolated(dir));
            assert.deepStrictEqual([p.via, p.executable], ["uv", exe]);
        });

        it("none: an error that names the version needed, where it looked and how to get one", () => {
            const dir = tmpdir();
            assert.throws(() => findRuntimePython("python3.12", isolated(dir)), (e: Error) =>
                e instanceof RunError && /no CPython 3\.12 for the function's runtime python3\.12/.test(e.message) &&
                e.message.includes(path.join(dir, "home", ".pyenv", "versions")) && /uv python find 3\.12/.test(e.message) &&
                /ML_LAMBDA_RUNTIME_PYTHON/.test(e.message));
        });

        it("refuses a distribution's /usr prefix (dist-packages, a patched site.py)", () => {
            assert.match(layoutProblem("/usr", "3.12") ?? "", /distribution/);
        });
    });

    describe("unpacking zips as Lambda does", () => {
        function zipOf(dir: string, files: Array<{ name: string; data: string; executable?: boolean }>): string {
            const file = path.join(dir, "a.zip");
            writeZip(file, files.map((f) => ({ name: f.name, executable: f.executable ?? false, read: () => Buffer.from(f.data) })));
            return file;
        }

        it("keeps modes, sets the zip's times, makes the root 0755, and unpacks a content once", async () => {
            const dir = tmpdir();
            const cache = path.join(dir, "cache");
            const zip = zipOf(dir, [{ name: "app/handler.py", data: "x = 1\n" }, { name: "bin/tool", data: "#!/bin/sh\n", executable: true }]);
            const tree = await unpackZip(zip, "f".repeat(64), cache);
            assert.strictEqual(fs.statSync(path.join(tree, "app/handler.py")).mode & 0o777, 0o644);
            assert.strictEqual(fs.statSync(path.join(tree, "bin/tool")).mode & 0o777, 0o755);
            assert.strictEqual(fs.statSync(tree).mode & 0o777, 0o755);
            assert.strictEqual(fs.statSync(path.join(tree, "app/handler.py")).mtime.toISOString(), "1980-01-01T00:00:00.000Z");
            assert.deepStrictEqual(fs.readdirSync(tree).sort(), ["app", "bin"], "nothing of ours inside the tree");
            fs.writeFileSync(path.join(tree, "app", "sentinel"), "");
            assert.strictEqual(await unpackZip(zip, "f".repeat(64), cache), tree);
            assert.ok(fs.existsSync(path.join(tree, "app", "sentinel")), "a second unpack of the same content reuses the first");
        });

        it("refuses names that would leave the directory", () => {
            for (const n of ["../x", "a/../../x", "/etc/passwd", "a\\b"]) assert.ok(unsafeName(n), n);
            for (const n of ["a/b", "a..b/c", ".hidden"]) assert.ok(!unsafeName(n), n);
        });

        it("an interrupted unpack is never reused, and pruning keeps the most recent", async () => {
            const dir = tmpdir();
            const cache = path.join(dir, "cache");
            const zip = zipOf(dir, [{ name: "a.txt", data: "a" }]);
            fs.mkdirSync(path.join(cache, "run", "unpacked", "e".repeat(64), "tree"), { recursive: true }); // no marker
            const tree = await unpackZip(zip, "e".repeat(64), cache);
            assert.deepStrictEqual(fs.readdirSync(tree), ["a.txt"]);
            await unpackZip(zip, "d".repeat(64), cache);
            assert.deepStrictEqual(pruneUnpacked(cache, 1).length, 1);
            assert.strictEqual(fs.readdirSync(path.join(cache, "run", "unpacked")).length, 1);
        });
    });
});
