/**
 * `ml-lambda invoke`: argument parsing, the emulator's output parsing and the setup errors, without starting
 * the emulator (python/tests/test_invoke.py runs it end to end with the real model).
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
    functionEnv,
    handlerDurationMs,
    initReportMs,
    packageRoot,
    parseArgs,
    parseReportLine,
    run,
    summarize,
} from "../cli/invoke";
import { UsageError } from "../cli/command";
import { findRie, RIE_VERSION } from "../cli/run/tools";

// Verbatim from aws-lambda-rie v0.0.0-20261030222936-bef5c4ba774d (tab-separated, trailing tab).
const COLD_REPORT = "REPORT RequestId: 86bc28e6-c04a-41f1-ac74-449ce3c3e655\tInit Duration: 0.02 ms\tDuration: 5898.83 ms\tBilled Duration: 5899 ms\tMemory Size: 3008 MB\tMax Memory Used: 3008 MB\t";
const WARM_REPORT = "REPORT RequestId: 4077eef2-932d-433e-bbfe-58cac35cc74e\tDuration: 22.02 ms\tBilled Duration: 23 ms\tMemory Size: 3008 MB\tMax Memory Used: 3008 MB\t";
const INIT_REPORT = "27 Nov 2026 21:40:04,520 [INFO] (rapid) INIT REPORT(durationMs: 5872.616000)";

function tmpdir(): string {
    return fs.mkdtempSync(path.join(os.tmpdir(), "invoke-spec-"));
}

describe("ml-lambda invoke", () => {
    describe("parseArgs", () => {
        it("reads every option", () => {
            const o = parseArgs(["--event", "e.json", "--json", "--model-dir", "m", "--handler-dir", "h",
                "--env", "A=1", "--env", "B=x=y", "--repeat", "3", "--memory", "1769", "--timeout", "60"]);
            assert.deepStrictEqual(o, {
                event: "e.json", json: true, modelDir: "m", handlerDir: "h", env: { A: "1", B: "x=y" },
                repeat: 3, memoryMb: 1769, timeoutS: 60,
            });
        });

        it("defaults", () => {
            assert.deepStrictEqual(parseArgs(["--event", "-"]), { event: "-", json: false, env: {}, repeat: 1, memoryMb: 3008, timeoutS: 300 });
        });

        for (const [argv, message] of [
            [[], "--event FILE is required"],
            [["--event", "e", "--env", "NOVALUE"], "--env needs KEY=VALUE"],
            [["--event", "e", "--repeat", "0"], "--repeat must be a positive integer"],
        ] as Array<[string[], string]>) {
            it(`refuses ${JSON.stringify(argv)}`, () => {
                assert.throws(() => parseArgs(argv), (e: Error) => e instanceof UsageError && e.message.includes(message));
            });
        }

        for (const argv of [["--event"], ["--event", "e", "--bogus"]]) {
            it(`refuses ${JSON.stringify(argv)} (the parser's own check)`, () => {
                assert.throws(() => parseArgs(argv), (e: NodeJS.ErrnoException) => String(e.code).startsWith("ERR_PARSE_ARGS"));
            });
        }

        it("reads the faithful run's options (--stack)", () => {
            const o = parseArgs(["--stack", "dev", "--event", "e.json", "--json", "--cpus", "1", "--repeat", "2", "--project", "p", "--function", "f", "--port", "9000"]);
            assert.deepStrictEqual({ ...o }, { event: "e.json", json: true, env: {}, repeat: 2, memoryMb: 3008, timeoutS: 300, stack: "dev", cpus: 1, project: "p", functionName: "f", port: 9000 });
        });

        for (const [argv, message] of [
            [["--stack", "dev", "--event", "e", "--model-dir", "m"], "--model-dir: only for the source run; --stack runs the recorded build as it is"],
            [["--stack", "dev", "--event", "e", "--env", "A=1"], "--env: only for the source run"],
            [["--stack", "dev", "--event", "e", "--memory", "512"], "--memory: only for the source run; --stack runs the recorded build as it is, with the function's own settings"],
            [["--event", "e", "--cpus", "1"], "--cpus needs --stack NAME (the faithful run)"],
            [["--event", "e", "--port", "9000"], "--port needs --stack NAME"],
            [["--stack", "dev", "--event", "e", "--cpus", "0"], "--cpus must be a positive integer"],
        ] as Array<[string[], string]>) {
            it(`refuses ${JSON.stringify(argv)}`, () => {
                assert.throws(() => parseArgs(argv), (e: Error) => e instanceof UsageError && e.message.includes(message));
            });
        }

        it("run() reports usage errors with exit code 2", async () => {
            const errors: string[] = [];
            const original = console.error;
            console.error = (m: string) => errors.push(m);
            try {
                assert.strictEqual(await run([]), 2);
            } finally {
                console.error = original;
            }
            assert.match(errors.join("\n"), /--event FILE is required/);
        });
    });

    describe("emulator output", () => {
        it("parses a cold REPORT line", () => {
            const r = parseReportLine(COLD_REPORT)!;
            assert.strictEqual(r.requestId, "86bc28e6-c04a-41f1-ac74-449ce3c3e655");
            assert.strictEqual(r.initDurationMs, 0.02);
            assert.strictEqual(r.durationMs, 5898.83);
            assert.strictEqual(r.billedDurationMs, 5899);
            assert.strictEqual(r.memorySizeMb, 3008);
            assert.strictEqual(r.maxMemoryUsedMb, 3008);
        });

        it("parses a warm REPORT line (no Init Duration)", () => {
            const r = parseReportLine(WARM_REPORT)!;
            assert.strictEqual(r.initDurationMs, undefined);
            assert.strictEqual(r.durationMs, 22.02);
        });

        it("ignores other lines", () => {
            assert.strictEqual(parseReportLine("END RequestId: x"), undefined);
            assert.strictEqual(parseReportLine(INIT_REPORT), undefined);
        });

        it("reads the runtime's real init time from the emulator's INIT REPORT", () => {
            assert.strictEqual(initReportMs(INIT_REPORT), 5872.616);
            assert.strictEqual(initReportMs(COLD_REPORT), undefined);
        });

        it("reads the handler's own duration from its structured log", () => {
            const line = '{"level":"INFO","message":"request done","function_request_id":"abc","duration_ms":12.5,"status":200}';
            assert.deepStrictEqual(handlerDurationMs(line), { requestId: "abc", durationMs: 12.5 });
            assert.strictEqual(handlerDurationMs('{"message":"model loaded"}'), undefined);
            assert.strictEqual(handlerDurationMs("not json"), undefined);
        });

        it("summarizes embeddings for humans and leaves other bodies alone", () => {
            const response = { statusCode: 200, body: JSON.stringify({ embeddings: [[1, 2], [3, 4]], dimension: 2, count: 2, encoding: "float" }) };
            const s = summarize(response) as any;
            assert.strictEqual(s.body.embeddings, "[2 embeddings of 2 (float); --json prints them]");
            assert.strictEqual(s.body.count, 2);
            const error = { statusCode: 400, body: '{"error":"texts: must not be empty","field":"texts"}' };
            assert.deepStrictEqual((summarize(error) as any).body, { error: "texts: must not be empty", field: "texts" });
        });
    });

    describe("setup errors name the fix", () => {
        it("finds the package root", () => {
            assert.ok(fs.existsSync(path.join(packageRoot(), "python", "src", "app", "handler.py")));
        });

        // One lookup serves the faithful run and the source run (cli/run/tools.ts).
        const noLog = (): void => undefined;
        it("ML_LAMBDA_RIE pointing nowhere", () => {
            assert.throws(() => findRie(tmpdir(), { ML_LAMBDA_RIE: "/nonexistent/aws-lambda-rie", PATH: "" }, noLog, null),
                /aws-lambda-rie not found at ML_LAMBDA_RIE=\/nonexistent\/aws-lambda-rie: fix the path/);
        });

        it("no emulator anywhere and no Go to build it", () => {
            assert.throws(() => findRie(tmpdir(), { PATH: "" }, noLog, null),
                new RegExp(`aws-lambda-rie not found .*no Go toolchain to build it: install Go >= 1.26 .*@${RIE_VERSION}.*set ML_LAMBDA_RIE`));
        });

        it("prefers the pinned build in the cache, then the repository's of the same version, then PATH", () => {
            const cache = tmpdir();
            const repo = tmpdir();
            const onPath = tmpdir();
            const exe = (file: string): string => {
                fs.mkdirSync(path.dirname(file), { recursive: true });
                fs.writeFileSync(file, "#!/bin/sh\n", { mode: 0o755 });
                return file;
            };
            exe(path.join(onPath, "aws-lambda-rie"));
            assert.strictEqual(findRie(cache, { PATH: onPath }, noLog, repo), path.join(onPath, "aws-lambda-rie"));
            const repoRie = exe(path.join(repo, ".cache", "bin", "aws-lambda-rie"));
            fs.writeFileSync(path.join(repo, ".cache", "bin", "aws-lambda-rie.version"), "v0.0.0-some-other\n");
            assert.strictEqual(findRie(cache, { PATH: onPath }, noLog, repo), path.join(onPath, "aws-lambda-rie"), "another version is not taken");
            fs.writeFileSync(path.join(repo, ".cache", "bin", "aws-lambda-rie.version"), `${RIE_VERSION}\n`);
            assert.strictEqual(findRie(cache, { PATH: onPath }, noLog, repo), repoRie);
            const pinned = exe(path.join(cache, "tools", `aws-lambda-rie-${RIE_VERSION}`, "aws-lambda-rie"));
            assert.strictEqual(findRie(cache, { PATH: onPath }, noLog, repo), pinned);
        });

        it("no model given", () => {
            const opts = parseArgs(["--event", "e"]);
            assert.throws(() => functionEnv(opts, "/h", { PATH: "/bin" }), /no model given: pass --model-dir DIR/);
        });

        it("the function's environment", () => {
            const model = tmpdir();
            const env = functionEnv(parseArgs(["--event", "e", "--model-dir", model, "--env", "MAX_TEXTS=5", "--memory", "1769"]), "/h", { PATH: "/bin" });
            assert.strictEqual(env.MODEL_DIR, model);
            assert.strictEqual(env.MAX_TEXTS, "5");
            assert.strictEqual(env.HF_HUB_OFFLINE, "1");
            assert.strictEqual(env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE, "1769");
            assert.strictEqual(env.LAMBDA_TASK_ROOT, "/h");
            assert.strictEqual(env.PYTHONPATH, "/h");
        });
    });
});
