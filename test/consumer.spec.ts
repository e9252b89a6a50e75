/**
 * The npm package as a team gets it. In an empty temporary directory (outside the repository, with no
 * node_modules or package.json above it): `npm pack` the repository (prepack builds dist/), install the tarball
 * and its peers, write the program a new user writes from the README (test/fixtures/consumer/), type-check it with
 * strict tsc (no skipLibCheck, as Pulumi's TypeScript template), run it under Pulumi's mock engine and assert its
 * graph; then the `ml-lambda` bin from the installed package: --help, --version, size, plan on that program, and
 * invoke --stack: the plan's recorded build of the consumer's own function, run as Lambda runs it (cli/run), from
 * the installed dist/ (its bootstrap files included). The emulator and moto come from ML_LAMBDA_RIE /
 * ML_LAMBDA_MOTO_SERVER when this repository has them, as a user with them installed would point at them; the
 * runtime directory (awslambdaric + boto3) is built in the consumer's own cache.
 *
 * The consumer's directory also holds a decoy python/ (Dockerfile, handler, requirements): a component that looked
 * for its bundled function under the caller's working directory would pick it up, and the test would see it.
 *
 * About 30 s on a warm npm cache (pack + build 8 s, install 7 s, tsc 6 s, mock run with a cold layer build 7 s).
 * ML_LAMBDA_KEEP_CONSUMER=1 keeps the directory for a look afterwards.
 */
import * as assert from "assert";
import { spawnSync, SpawnSyncReturns } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const REPO = path.resolve(__dirname, "..");
const FIX = path.join(__dirname, "fixtures");
const PKG = JSON.parse(fs.readFileSync(path.join(REPO, "package.json"), "utf8"));
/** The peers a consumer installs, at the versions this repo tests with (hits the npm cache that `npm ci` filled). */
const CONSUMER_DEPS = ["@pulumi/pulumi", "@pulumi/aws", "@pulumi/docker", "typescript", "ts-node", "@types/node"]
    .map((name) => `${name}@${PKG.devDependencies[name]}`);

const DECOY = "# DECOY: a component that reads its bundled function from the caller's cwd would stage this\n";

/**
 * The environment of a consumer's shell: nothing that points back at this repository. npm exports its own
 * project to scripts (npm_config_local_prefix, npm_package_*, INIT_CWD); the repo's test.sh exports its build
 * cache. The npm and pip download caches stay (they only make installs faster).
 */
function consumerEnv(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) {
        if (/^npm_(package_|lifecycle_|config_local_prefix$)/.test(k) || k === "INIT_CWD" || k === "ML_LAMBDA_CACHE_DIR" || k.startsWith("TS_NODE_")) continue;
        env[k] = v;
    }
    return env;
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = consumerEnv()): SpawnSyncReturns<string> {
    const r = spawnSync(cmd, args, { cwd, env, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
    if (r.error) throw r.error;
    return r;
}

function ok(r: SpawnSyncReturns<string>, what: string): SpawnSyncReturns<string> {
    assert.strictEqual(r.status, 0, `${what} exited ${r.status}\n--- stdout\n${r.stdout.slice(-4000)}\n--- stderr\n${r.stderr.slice(-4000)}`);
    return r;
}

/** The ```ts blocks of the README's "Using the component in your own stack" section. */
export function readmeExamples(readme: string): string[] {
    const start = readme.indexOf("## Using the component in your own stack");
    assert.ok(start >= 0, "README has no 'Using the component in your own stack' section");
    const rest = readme.slice(start + 1);
    const section = rest.slice(0, rest.search(/\n## /) === -1 ? undefined : rest.search(/\n## /));
    return [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
}

interface PackedFile { path: string; size: number; mode: number }
interface Packed { filename: string; size: number; unpackedSize: number; entryCount: number; files: PackedFile[] }
interface Registered { type: string; name: string; inputs: Record<string, any> }

describe("the npm tarball, installed in an empty directory", function () {
    let work: string;
    let app: string;
    let installed: string;
    let packed: Packed;

    before(function () {
        work = fs.mkdtempSync(path.join(fs.realpathSync(os.tmpdir()), "ml-lambda-consumer-"));
        for (let d = path.dirname(work); ; d = path.dirname(d)) {
            for (const f of ["package.json", "node_modules"]) {
                assert.ok(!fs.existsSync(path.join(d, f)), `${path.join(d, f)} exists above the consumer directory: resolution could leak`);
            }
            if (d === path.dirname(d)) break;
        }
        // `npm pack` runs prepack (= npm run build): the tarball holds a fresh dist/. Build output goes to stderr.
        const pack = ok(run("npm", ["pack", "--json", "--pack-destination", work], REPO, { ...consumerEnv(), npm_config_loglevel: "warn" }), "npm pack");
        packed = JSON.parse(pack.stdout.slice(pack.stdout.indexOf("[")))[0];

        app = path.join(work, "app");
        fs.mkdirSync(app);
        fs.writeFileSync(path.join(app, "package.json"), JSON.stringify({ name: "consumer-app", version: "0.0.0", private: true }, null, 2));
        for (const f of fs.readdirSync(path.join(FIX, "consumer"))) fs.copyFileSync(path.join(FIX, "consumer", f), path.join(app, f));
        readmeExamples(fs.readFileSync(path.join(REPO, "README.md"), "utf8"))
            .forEach((code, i) => fs.writeFileSync(path.join(app, `readme-example-${i + 1}.ts`), code));
        fs.cpSync(path.join(FIX, "component", "handler"), path.join(app, "functions", "embed", "src"), { recursive: true });
        fs.copyFileSync(path.join(FIX, "component", "requirements.txt"), path.join(app, "functions", "embed", "requirements.txt"));
        fs.cpSync(path.join(FIX, "component", "tiny-model"), path.join(app, "models", "tiny"), { recursive: true });
        fs.mkdirSync(path.join(app, "python", "src", "app"), { recursive: true });
        for (const f of ["python/Dockerfile", "python/requirements.txt", "python/src/app/handler.py"]) fs.writeFileSync(path.join(app, f), DECOY);

        ok(run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error",
            path.join(work, packed.filename), ...CONSUMER_DEPS], app), "npm install");
        installed = path.join(app, "node_modules", "pulumi-ml-lambda");
    });

    after(() => {
        if (process.env.ML_LAMBDA_KEEP_CONSUMER) console.log(`      kept ${work}`);
        else if (work) fs.rmSync(work, { recursive: true, force: true });
    });

    describe("the tarball", () => {
        const ALLOWED = [
            /^dist\/(components|cli|policy)\/([a-z][A-Za-z]*\/)?[a-z][A-Za-z]*\.(js|d\.ts)$/,
            /^dist\/components\/model\/(prepare_model|export_onnx|check_onnx|model_common|model_hub)\.py$/,
            /^dist\/components\/model\/references\/[A-Za-z0-9._-]+\.json$/,
            /^dist\/cli\/run\/runtime\/(bootstrap|bootstrap\.py|ml_lambda_probe\.py)$/,
            /^dist\/policy\/(PulumiPolicy\.yaml|package\.json|config\.prod\.json)$/,
            /^python\/src\/app\/([a-z_]+\/)*[a-z_]+\.py$/,
            /^python\/(Dockerfile|\.dockerignore)$/,
            /^python\/docker\/[a-z_]+\.py$/,
            /^python\/requirements(-(?!dev\b)[a-z0-9]+)?\.txt$/,
            /^(package\.json|README\.md|LICENSE|CHANGELOG\.md)$/,
            /^bin\/ml-lambda\.js$/,
        ];

        it("ships only dist/ (JS + .d.ts + the build's assets), the Python function, README, LICENSE and CHANGELOG", () => {
            const stray = packed.files.map((f) => f.path).filter((p) => !ALLOWED.some((re) => re.test(p)));
            assert.deepStrictEqual(stray, [], "files outside the allowlist (tests, caches, maps, CI files?)");
            for (const p of packed.files.map((f) => f.path)) assert.doesNotMatch(p, /(^|\/)(test|tests|fixtures|__pycache__|\.cache|\.ml-lambda|\.ci)\//);
            assert.ok(packed.size < 1_000_000, `tarball is ${packed.size} bytes: something large slipped in`);
            console.log(`      ${packed.filename}: ${packed.size} bytes packed, ${packed.unpackedSize} unpacked, ${packed.entryCount} files`);
        });

        it("ships every file the code and the Dockerfile need, and a .d.ts for every .js", () => {
            const paths = new Set(packed.files.map((f) => f.path));
            // Everything git tracks in the function, its Dockerfile's RUN scripts, and the components' Python steps.
            const tracked = ok(run("git", ["ls-files", "python/src", "python/docker", "python/Dockerfile", "python/.dockerignore", "python/requirements.txt", "components"], REPO), "git ls-files")
                .stdout.trim().split("\n");
            const needed = tracked
                .filter((p) => !/\.ts$|\.md$/.test(p))
                .map((p) => (p.startsWith("components/") ? `dist/${p}` : p));
            assert.ok(needed.includes("dist/components/model/prepare_model.py") && needed.includes("python/src/app/handler.py"), needed.join(" "));
            assert.deepStrictEqual(needed.filter((p) => !paths.has(p)), [], "tracked assets missing from the tarball");
            for (const p of ["dist/components/index.js", "dist/components/index.d.ts", "dist/cli/main.js", "dist/policy/policies.js",
                "dist/policy/index.js", "dist/policy/PulumiPolicy.yaml", "README.md", "LICENSE", "CHANGELOG.md"]) {
                assert.ok(paths.has(p), `${p} missing`);
            }
            const js = [...paths].filter((p) => p.endsWith(".js") && !p.startsWith("bin/")); // bin/: the launcher, not an API
            assert.deepStrictEqual(js.filter((p) => !paths.has(p.replace(/\.js$/, ".d.ts"))), []);
        });

        it("package.json: main/types/exports/bin point into the tarball; peers without awsx; node >= 20", () => {
            const pkg = JSON.parse(fs.readFileSync(path.join(installed, "package.json"), "utf8"));
            const targets = [pkg.main, pkg.types, pkg.bin["ml-lambda"], ...Object.values(pkg.exports).flatMap((e: any) => (typeof e === "string" ? [e] : Object.values(e)))];
            for (const t of targets as string[]) assert.ok(fs.existsSync(path.join(installed, t)), `${t} is not in the installed package`);
            assert.deepStrictEqual(Object.keys(pkg.peerDependencies).sort(), ["@pulumi/aws", "@pulumi/docker", "@pulumi/pulumi"]);
            assert.strictEqual(pkg.engines.node, ">=20");
            const pack = JSON.parse(fs.readFileSync(path.join(installed, "dist", "policy", "package.json"), "utf8"));
            assert.ok(fs.existsSync(path.join(installed, "dist", "policy", pack.main)), "the policy pack's main");
        });

        it("the ml-lambda bin (bin/ml-lambda.js, which runs dist/cli/main.js here) keeps its #! line and exec bit", () => {
            for (const rel of ["bin/ml-lambda.js", "dist/cli/main.js"]) {
                const bin = path.join(installed, rel);
                assert.ok(fs.readFileSync(bin, "utf8").startsWith("#!/usr/bin/env node\n"), rel);
                assert.ok((fs.statSync(bin).mode & 0o111) !== 0, `${rel} not executable`);
                assert.ok((packed.files.find((f) => f.path === rel)!.mode & 0o111) !== 0, `${rel} not executable in the tarball`);
            }
            assert.ok(!fs.existsSync(path.join(installed, "cli", "main.ts")), "no sources: the launcher takes dist/");
        });
    });

    describe("the ml-lambda command from the installed package", () => {
        it("`npx ml-lambda --help` and `--version`", () => {
            const help = ok(run("npx", ["--no-install", "ml-lambda", "--help"], app), "npx ml-lambda --help");
            assert.match(help.stdout, /^Usage: ml-lambda <command>/);
            for (const c of ["size", "plan", "invoke"]) assert.match(help.stdout, new RegExp(`^  ${c} `, "m"));
            assert.strictEqual(ok(run("npx", ["--no-install", "ml-lambda", "--version"], app), "--version").stdout.trim(), PKG.version);
            // The bin link is the installed package's, not something on PATH.
            assert.strictEqual(fs.realpathSync(path.join(app, "node_modules", ".bin", "ml-lambda")), path.join(installed, "bin", "ml-lambda.js"));
        });
    });

    describe("a program written from the README", () => {
        let graph: { resources: Registered[]; calls: string[]; outputs: Record<string, any> };
        const of = (type: string, name?: string) => graph.resources.filter((r) => r.type === type && (name === undefined || r.name === name));

        it("type-checks with strict tsc against the installed declarations (README examples included)", () => {
            assert.ok(fs.readdirSync(app).some((f) => f.startsWith("readme-example-")), "no README example extracted");
            const tsc = run(process.execPath, [path.join(app, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.json"], app);
            // @pulumi/policy 1.21.0's own index.d.ts re-exports two names its proxy.d.ts does not declare; only a
            // program importing "pulumi-ml-lambda/policy" without skipLibCheck sees that. Anything else fails here.
            const errors = tsc.stdout.split("\n").filter((l) => /error TS\d+/.test(l));
            const ours = errors.filter((l) => !l.startsWith("node_modules/@pulumi/policy/"));
            assert.deepStrictEqual(ours, [], tsc.stdout);
            assert.ok(tsc.status === 0 || errors.length > 0, tsc.stdout + tsc.stderr);
        });

        describe("under Pulumi's mock engine", () => {
            before(function () {
                const out = path.join(work, "graph.json");
                ok(run(process.execPath, [path.join(app, "node_modules", "ts-node", "dist", "bin.js"), "--transpile-only", "run-mocks.ts", out], app), "the program under mocks");
                graph = JSON.parse(fs.readFileSync(out, "utf8"));
            });

            it("own code, auto packaging: a zip function on its dependency layer and its model's layer, with bucket, role and alias", () => {
                const fn = of("aws:lambda/function:Function", "embed");
                assert.strictEqual(fn.length, 1);
                assert.strictEqual(fn[0].inputs.packageType, "Zip");
                assert.strictEqual(fn[0].inputs.handler, "app.handler.lambda_handler");
                assert.strictEqual(fn[0].inputs.memorySize, 2048);
                assert.deepStrictEqual(fn[0].inputs.snapStart, { applyOn: "PublishedVersions" });
                // The small model fits beside the dependencies: a layer of its own at /opt/ml/model, no S3 object to fetch.
                assert.strictEqual(fn[0].inputs.layers.length, 2);
                assert.strictEqual(of("aws:lambda/layerVersion:LayerVersion", "embed-deps").length, 1);
                assert.strictEqual(of("aws:lambda/layerVersion:LayerVersion", "embed-model").length, 1);
                assert.strictEqual(fn[0].inputs.environment.variables.MODEL_DIR, "/opt/ml/model");
                for (const t of ["aws:s3/bucket:Bucket", "aws:iam/role:Role", "aws:lambda/alias:Alias", "aws:cloudwatch/logGroup:LogGroup"]) {
                    assert.strictEqual(of(t).filter((r) => r.name.startsWith("embed")).length, 1, t);
                }
                assert.strictEqual(of("aws:s3/bucketObjectv2:BucketObjectv2").filter((r) => r.name.startsWith("embed")).length, 0, "no model object, zips under 50 MB");
                assert.strictEqual(graph.outputs.ownPackaging, "zip");
                const url = of("aws:lambda/functionUrl:FunctionUrl", "embed-url");
                assert.strictEqual(url.length, 1);
                assert.deepStrictEqual([url[0].inputs.qualifier, url[0].inputs.authorizationType], ["live", "AWS_IAM"]);
                assert.deepStrictEqual(url[0].inputs.cors, { allowOrigins: ["https://app.example.com"], allowMethods: ["POST"] });
                assert.match(graph.outputs.ownUrl, /^https:\/\/[a-z0-9]{32}\.lambda-url\.us-east-1\.on\.aws\/$/);
                assert.deepStrictEqual(graph.outputs.ownSizeReport.packages.map((p: any) => p.name), ["six"]);
                // The code zip holds the consumer's handler, built under the consumer's directory.
                const zip = fs.readFileSync(path.join(app, ".ml-lambda", "code", `${graph.outputs.ownFunctionName}.zip`));
                assert.ok(zip.includes("app/handler.py"), "consumer handler not in the code zip");
                assert.ok(!zip.includes("DECOY"));
            });

            it("bundled function, forced image: ECR repository + image staged from the installed package, never the cwd", () => {
                const fn = of("aws:lambda/function:Function", "bundled");
                assert.strictEqual(fn.length, 1);
                assert.strictEqual(fn[0].inputs.packageType, "Image");
                assert.match(fn[0].inputs.imageUri, /@sha256:[0-9a-f]{64}$/);
                assert.strictEqual(of("aws:ecr/repository:Repository", "bundled-repo").length, 1);
                assert.strictEqual(of("aws:lambda/layerVersion:LayerVersion").filter((r) => r.name.startsWith("bundled")).length, 0);
                const build = of("docker:index/image:Image", "bundled-image")[0].inputs.build;
                const ctx: string = build.context;
                assert.ok(ctx.startsWith(path.join(app, ".ml-lambda") + path.sep), ctx);
                const same = (staged: string, shipped: string) =>
                    assert.ok(fs.readFileSync(path.join(ctx, staged)).equals(fs.readFileSync(path.join(installed, shipped))), `${staged} is not the package's ${shipped}`);
                same("Dockerfile", "python/Dockerfile");
                same(".dockerignore", "python/.dockerignore");
                same("requirements.txt", "python/requirements.txt");
                for (const f of fs.readdirSync(path.join(installed, "python", "src", "app"))) {
                    if (f.endsWith(".py")) same(path.join("src", "app", f), path.join("python", "src", "app", f));
                }
                for (const f of fs.readdirSync(path.join(installed, "python", "docker"))) same(path.join("docker", f), path.join("python", "docker", f));
                assert.ok(fs.existsSync(path.join(ctx, "model", "config.json")), "model staged");
                // provisionedConcurrency { min: 1, max: 5 }: target tracking at the default 0.7.
                assert.deepStrictEqual([of("aws:appautoscaling/target:Target", "bundled-pc-target")[0].inputs.minCapacity, of("aws:appautoscaling/target:Target", "bundled-pc-target")[0].inputs.maxCapacity], [1, 5]);
                assert.strictEqual(of("aws:appautoscaling/policy:Policy", "bundled-pc-policy")[0].inputs.targetTrackingScalingPolicyConfiguration.targetValue, 0.7);
            });

            it("the model was prepared by the shipped prepare_model.py, and nothing refers to the repository", () => {
                assert.match(graph.outputs.bundledModelKey, /^models\/tiny\/[0-9a-f]{64}\.tar$/);
                const text = JSON.stringify(graph);
                assert.ok(!text.includes(REPO), "a resource input points into the repository");
                assert.ok(!text.includes("DECOY"));
            });

            it("a mistake is a typed MlLambdaError naming the setting, the limit and the fix", () => {
                assert.match(graph.outputs.refused, /^Invalid "memorySize" = 10241: .*10240.*Fix: /);
            });

            it("`ml-lambda size` and `ml-lambda plan` run the installed CLI on the consumer's requirements and program", () => {
                const bin = path.join(app, "node_modules", ".bin", "ml-lambda");
                const size = JSON.parse(ok(run(process.execPath, [bin, "size", "--requirements", "functions/embed/requirements.txt", "--json"], app), "ml-lambda size").stdout);
                assert.strictEqual(size.decision.mode, "zip");
                fs.writeFileSync(path.join(app, "Pulumi.yaml"), "name: consumer\nruntime: nodejs\n");
                fs.writeFileSync(path.join(app, "Pulumi.dev.yaml"), "config:\n  aws:region: us-east-1\n");
                const plan = JSON.parse(ok(run(process.execPath, [bin, "plan", "--stack", "dev", "--json"], app), "ml-lambda plan").stdout);
                assert.deepStrictEqual(plan.decision.map((d: any) => `${d.component}:${d.mode}`).sort(), ["bundled:image", "embed:zip"]);
                assert.strictEqual(plan.mandatoryViolations, 0, JSON.stringify(plan.policies.filter((p: any) => p.violations.length)));
                assert.ok(fs.existsSync(path.join(app, ".ml-lambda", "deployments", "dev.json")), "the plan recorded its build");
            });

            it("`ml-lambda invoke --stack dev` runs the consumer's planned zip function from the installed package", function () {
                if (process.platform !== "linux") this.skip();
                const bin = path.join(app, "node_modules", ".bin", "ml-lambda");
                fs.writeFileSync(path.join(app, "e.json"), JSON.stringify({ texts: ["from the install"] }));
                const env = consumerEnv();
                const rie = path.join(REPO, ".cache", "bin", "aws-lambda-rie");
                const moto = path.join(REPO, ".cache", "ml-lambda", "tools", "moto-5.2.5", "bin", "moto_server");
                if (fs.existsSync(rie)) env.ML_LAMBDA_RIE = rie;
                if (fs.existsSync(moto)) env.ML_LAMBDA_MOTO_SERVER = moto;
                const r = ok(run(process.execPath, [bin, "invoke", "--stack", "dev", "--function", "embed", "--event", "e.json", "--json", "--cpus", "1"], app, env), "ml-lambda invoke --stack dev");
                assert.deepStrictEqual(JSON.parse(r.stdout), { statusCode: 200, body: "{}" });
                assert.match(r.stderr, /FAITHFUL RUN of stack "dev"/);
                assert.match(r.stderr, /time to first response \d+ ms/);
                assert.ok(!r.stderr.includes(path.join(REPO, "python")), "ran the repository's function instead of the consumer's");
            });
        });
    });
});
