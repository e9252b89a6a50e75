/**
 * moto server as the e2e test's AWS, over HTTPS on 127.0.0.1.
 *
 * moto 5.2.5 evaluates a bucket policy without the request's context, so the model bucket's TLS-only policy
 * (Deny s3:* when aws:SecureTransport is false) denies every object request. e2e/moto_tls.py starts moto's own
 * server with the one thing S3 does that moto does not: aws:SecureTransport from the request's scheme; the server
 * speaks HTTPS, so the policy allows what AWS allows (its self-test shows HTTP still denied). A self-signed
 * certificate for 127.0.0.1 is made per run; the provider trusts it through `aws:customCaBundle`, boto3 through
 * `verify=`.
 */
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as https from "https";
import * as path from "path";
import { freePort } from "../cli/proc";

export interface Moto {
    endpoint: string;
    /** PEM of the server's self-signed certificate (trust it as a CA). */
    caBundle: string;
    stop(): Promise<void>;
}

function makeCertificate(dir: string): { cert: string; key: string } {
    const cert = path.join(dir, "moto-cert.pem");
    const key = path.join(dir, "moto-key.pem");
    const r = spawnSync("openssl", [
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
        // Go's TLS client (the provider) checks the subjectAltName, not the CN.
        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        "-keyout", key, "-out", cert,
    ], { encoding: "utf8" });
    if (r.status !== 0) {
        throw new Error(`openssl could not make moto's test certificate (exit ${r.status}): ${r.stderr || r.error}; ` +
            "install openssl (apt-get install openssl)");
    }
    return { cert, key };
}

function ping(endpoint: string, ca: string): Promise<boolean> {
    return new Promise((resolve) => {
        const req = https.get(`${endpoint}/moto-api/`, { ca, timeout: 2000 }, (res) => {
            res.resume();
            resolve((res.statusCode ?? 500) < 500);
        });
        req.on("error", () => resolve(false));
        req.on("timeout", () => { req.destroy(); resolve(false); });
    });
}

const SHIM = path.join(__dirname, "moto_tls.py");

/** Starts moto's server (e2e/moto_tls.py under the given Python, which has moto[server]) and waits until it answers over HTTPS. */
export async function startMoto(opts: { python: string; dir: string; log: (line: string) => void }): Promise<Moto> {
    const probe = spawnSync(opts.python, ["-c", "import moto, werkzeug; print(moto.__version__)"], { encoding: "utf8" });
    if (probe.status !== 0) {
        throw new Error(`${opts.python} cannot import moto: run \`bash scripts/setup-python.sh\` (it installs moto[server] 5.2.5 ` +
            "into .cache/venv), or set ML_LAMBDA_E2E_PYTHON to a Python that has moto[server] and boto3");
    }
    const selfTest = spawnSync(opts.python, [SHIM, "--self-test"], { encoding: "utf8" });
    if (selfTest.status !== 0) throw new Error(`the moto TLS shim's self-test failed: ${selfTest.stdout}${selfTest.stderr}`);
    opts.log(`moto ${probe.stdout.trim()}; ${selfTest.stdout.trim()}`);
    const { cert, key } = makeCertificate(opts.dir);
    const port = await freePort();
    const endpoint = `https://127.0.0.1:${port}`;
    const logFile = path.join(opts.dir, "moto.log");
    const out = fs.openSync(logFile, "a");
    const args = [SHIM, "-H", "127.0.0.1", "-p", String(port), "--ssl-cert", cert, "--ssl-key", key];
    // setpriv --pdeathsig: the server dies with this process even when the test is killed, not only on stop().
    const child: ChildProcess = fs.existsSync("/usr/bin/setpriv")
        ? spawn("/usr/bin/setpriv", ["--pdeathsig", "SIGTERM", opts.python, ...args], { stdio: ["ignore", out, out] })
        : spawn(opts.python, args, { stdio: ["ignore", out, out] });
    fs.closeSync(out);
    let exited: number | null = null;
    child.on("exit", (code) => { exited = code ?? -1; });
    const ca = fs.readFileSync(cert, "utf8");
    const stop = async () => {
        if (exited !== null) return;
        await new Promise<void>((resolve) => {
            child.once("exit", () => resolve());
            child.kill("SIGTERM");
            setTimeout(() => { if (exited === null) child.kill("SIGKILL"); }, 5000).unref();
        });
    };
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
        if (exited !== null) {
            throw new Error(`moto's server exited with ${exited} before answering on ${endpoint}; its log: ${logFile}\n` +
                fs.readFileSync(logFile, "utf8").slice(-2000));
        }
        if (await ping(endpoint, ca)) {
            opts.log(`moto server (pid ${child.pid}) answers on ${endpoint}; log ${logFile}`);
            return { endpoint, caBundle: cert, stop };
        }
        await new Promise((r) => setTimeout(r, 300));
    }
    await stop();
    throw new Error(`moto's server did not answer on ${endpoint} within 60 s; its log: ${logFile}`);
}
