/**
 * The pure half of the faithful run: the function's environment as Lambda sets it, and the shell script that
 * builds the function's private root inside a new mount namespace. Both are plain data, tested directly.
 *
 * The root, built on a tmpfs in a private mount namespace (nothing on the host changes; it all goes away with the
 * last process):
 *   /var/task     the code zip, unpacked, read-only
 *   /opt          the layers, unpacked in order (a later layer's files over an earlier one's), read-only
 *   /var/lang     the runtime's CPython (its prefix), read-only; its site-packages replaced by the runtime-included
 *                 libraries (boto3 and its dependencies), so nothing of this machine's site-packages is seen
 *   /var/runtime  awslambdaric for that Python and the runtime's bootstrap (cli/run/runtime), read-only
 *   /tmp          a fresh tmpfs per start, sized like the function's ephemeral storage
 *   /usr /etc ... the host's, read-only (Lambda has Amazon Linux 2023's here: glibc 2.34, its libstdc++ and CA
 *                 bundle; this machine's may be newer), /etc/passwd and /etc/group with Lambda's sandbox user
 *   /dev          null, zero, full, random, urandom only: no /dev/shm, as on Lambda (multiprocessing queues fail
 *                 there too)
 *   /proc /sys    the host's (no PID namespace: the function could see the host's processes; Lambda shows its own)
 * The runtime runs as uid 993 / gid 990 (sbx_user1051, Lambda's) when the runner is root; with `unshare -rm` (no
 * root) it runs as the invoking user mapped to root in a user namespace, and read-only mounts still hold.
 */
import { MEMORY_ONE_VCPU_MB } from "../../components/limits";

/** Lambda's sandbox user: sbx_user1051, uid 993, gid 990. */
export const SANDBOX_UID = 993;
export const SANDBOX_GID = 990;

export const PASSWD = `root:x:0:0:root:/root:/sbin/nologin\nsbx_user1051:x:${SANDBOX_UID}:${SANDBOX_GID}::/home/sbx_user1051:/sbin/nologin\n`;
export const GROUP = `root:x:0:\nsbx_user1051:x:${SANDBOX_GID}:\n`;

/** The vCPU share Lambda gives a memory size (1 vCPU at 1,769 MB), for the notes the CLI prints. */
export function vcpuShare(memoryMb: number): number {
    return memoryMb / MEMORY_ONE_VCPU_MB;
}

/** Single-quotes a string for sh. */
export function sq(s: string): string {
    return `'${s.replace(/'/g, `'\\''`)}'`;
}

export interface SandboxPlan {
    /** An empty directory on the host used as the root's mount point (inside the namespace only). */
    mountPoint: string;
    /** Another one, for the read-only overlay's bottom layer (mount points for extra mounts under /opt). */
    scratchPoint: string;
    /** Host directories. */
    code?: string;
    layers: string[];
    pythonPrefix: string;
    pythonMinor: string;
    runtimeDir: string;
    /** The runtime-included libraries, mounted over /var/lang/lib/pythonX.Y/site-packages. */
    sitePackagesDir: string;
    /** Files with the sandbox user's /etc/passwd and /etc/group. */
    passwdFile: string;
    groupFile: string;
    ephemeralStorageMb: number;
    extraMounts: Array<{ source: string; target: string }>;
    /** Host executables. */
    tools: { mount: string; chroot: string; setpriv?: string; rie: string };
    /** Drop to Lambda's uid/gid (root runner) or stay the mapped user (userns runner). */
    dropPrivileges: boolean;
    ports: { emulator: number; runtimeApi: number };
    handler: string;
    /** A cgroup's process list to join first (the CPU quota), when one is set. */
    cgroupProcs?: string;
}

/** Host top-level directories the root borrows, read-only (a symlink stays a symlink, e.g. merged-/usr's /lib). */
export const HOST_DIRS = ["usr", "etc", "bin", "sbin", "lib", "lib64", "lib32", "libx32"];

/**
 * The script `unshare -m` runs: mounts, then `exec aws-lambda-rie … chroot <root> setpriv … /var/runtime/bootstrap`.
 * The emulator stays outside the chroot (it is not part of Lambda's filesystem) but inside the namespace; the runtime
 * it starts on the first invoke enters the root. `set -e`: any failed mount stops the script with its message.
 */
export function sandboxScript(p: SandboxPlan): string {
    const R = p.mountPoint;
    const L: string[] = ["set -eu"];
    // Joined before anything else starts: every process of the function inherits the quota.
    if (p.cgroupProcs) L.push(`echo $$ > ${sq(p.cgroupProcs)}`);
    const mount = sq(p.tools.mount);
    const bindRo = (src: string, dst: string) => {
        L.push(`${mount} --bind ${sq(src)} ${sq(dst)}`, `${mount} -o remount,bind,ro ${sq(dst)}`);
    };
    L.push(`${mount} -t tmpfs -o size=16m,mode=0755 ml-lambda-root ${sq(R)}`);
    for (const d of HOST_DIRS) {
        L.push(`if [ -L /${d} ]; then ln -s "$(readlink /${d})" ${sq(`${R}/${d}`)}; ` +
            `elif [ -d /${d} ]; then mkdir ${sq(`${R}/${d}`)}; ${mount} --bind /${d} ${sq(`${R}/${d}`)}; ${mount} -o remount,bind,ro ${sq(`${R}/${d}`)}; fi`);
    }
    L.push(`mkdir -p ${["dev", "proc", "sys", "tmp", "opt", "var/task", "var/lang", "var/runtime", "home"].map((d) => sq(`${R}/${d}`)).join(" ")}`);
    // /dev: the few devices a Lambda function has; no /dev/shm.
    L.push(`${mount} -t tmpfs -o size=64k,mode=0755 ml-lambda-dev ${sq(`${R}/dev`)}`);
    for (const dev of ["null", "zero", "full", "random", "urandom"]) {
        L.push(`touch ${sq(`${R}/dev/${dev}`)}`, `${mount} --bind /dev/${dev} ${sq(`${R}/dev/${dev}`)}`);
    }
    L.push(`ln -s /proc/self/fd ${sq(`${R}/dev/fd`)}`, `ln -s /proc/self/fd/0 ${sq(`${R}/dev/stdin`)}`,
        `ln -s /proc/self/fd/1 ${sq(`${R}/dev/stdout`)}`, `ln -s /proc/self/fd/2 ${sq(`${R}/dev/stderr`)}`);
    L.push(`${mount} -o remount,ro ${sq(`${R}/dev`)}`);
    L.push(`${mount} --rbind /proc ${sq(`${R}/proc`)}`);
    L.push(`${mount} --rbind /sys ${sq(`${R}/sys`)}`, `${mount} -o remount,bind,ro ${sq(`${R}/sys`)}`);
    L.push(`${mount} -t tmpfs -o size=${p.ephemeralStorageMb}m,mode=1777 ml-lambda-tmp ${sq(`${R}/tmp`)}`);
    if (p.code) bindRo(p.code, `${R}/var/task`);
    const optMounts = p.extraMounts.filter((m) => m.target === "/opt" || m.target.startsWith("/opt/"));
    if (p.layers.length === 1 && optMounts.length === 0) {
        bindRo(p.layers[0], `${R}/opt`);
    } else if (p.layers.length > 0 || optMounts.length > 0) {
        // A read-only overlay (no upper directory): the last layer on top, as Lambda extracts layers in order.
        // Its bottom layer is a scratch tmpfs holding the mount points of extra mounts under /opt.
        L.push(`${mount} -t tmpfs -o size=64k,mode=0755 ml-lambda-scratch ${sq(p.scratchPoint)}`);
        for (const m of optMounts) L.push(`mkdir -p ${sq(p.scratchPoint + m.target.slice("/opt".length))}`);
        const lower = [...p.layers].reverse().concat(p.scratchPoint).join(":");
        L.push(`${mount} -t overlay -o ro,lowerdir=${sq(lower)} ml-lambda-opt ${sq(`${R}/opt`)}`);
    }
    bindRo(p.pythonPrefix, `${R}/var/lang`);
    // The interpreter's own site-packages (pip, and whatever this machine installed, .pth hooks included) is not
    // the runtime's: the runtime-included libraries take its place.
    bindRo(p.sitePackagesDir, `${R}/var/lang/lib/python${p.pythonMinor}/site-packages`);
    bindRo(p.runtimeDir, `${R}/var/runtime`);
    for (const m of p.extraMounts) {
        if (!optMounts.includes(m)) L.push(`mkdir -p ${sq(R + m.target)}`);
        bindRo(m.source, R + m.target);
    }
    L.push(`${mount} --bind ${sq(p.passwdFile)} ${sq(`${R}/etc/passwd`)}`, `${mount} --bind ${sq(p.groupFile)} ${sq(`${R}/etc/group`)}`);
    L.push(`${mount} -o remount,ro ${sq(R)}`);
    L.push(`cd ${sq(`${R}/var/task`)}`);
    const drop = p.dropPrivileges && p.tools.setpriv
        ? [p.tools.setpriv, `--reuid=${SANDBOX_UID}`, `--regid=${SANDBOX_GID}`, "--clear-groups", "--inh-caps=-all", "--pdeathsig", "KILL"]
        : p.tools.setpriv ? [p.tools.setpriv, "--pdeathsig", "KILL"] : [];
    // The emulator dies with us (pdeathsig), and the runtime with the emulator.
    const rieCmd = [
        ...(p.tools.setpriv ? [p.tools.setpriv, "--pdeathsig", "KILL"] : []),
        p.tools.rie,
        "--runtime-interface-emulator-address", `127.0.0.1:${p.ports.emulator}`,
        "--runtime-api-address", `127.0.0.1:${p.ports.runtimeApi}`,
        p.tools.chroot, R, ...drop, "/var/runtime/bootstrap",
        // The emulator takes its last argument for the handler name (it must be the real one); bootstrap ignores it.
        p.handler,
    ];
    L.push(`exec ${rieCmd.map(sq).join(" ")}`);
    return L.join("\n") + "\n";
}

/** "0-1" for the first two CPUs this process may use (taskset's list format). */
export function cpuList(allowed: number[], n: number): string {
    return allowed.slice(0, n).join(",");
}

/** The CPUs this process may run on, from /proc/self/status (Cpus_allowed_list: "0-3,6"). */
export function parseCpuList(text: string): number[] {
    const out: number[] = [];
    for (const part of text.trim().split(",")) {
        if (!part) continue;
        const [a, b] = part.split("-").map(Number);
        for (let i = a; i <= (b ?? a); i++) out.push(i);
    }
    return out;
}
