/**
 * Reading the emulator's output. Two figures of its REPORT line do not mean what they mean on Lambda (checked
 * against the emulator's source, internal/lambda/rie/handlers.go):
 *  - "Init Duration" times only the emulator's asynchronous sandbox.Init call (well under 1 ms); the runtime's real
 *    init happens inside the first invocation. The emulator logs the real figure at INFO level, "INIT REPORT
 *    (durationMs: N)" after "INIT RTDONE", timed from starting the runtime to its first request for work, as
 *    Lambda times Init Duration.
 *  - "Max Memory Used" repeats the configured memory size; the runners read peak RSS from /proc instead.
 */

export interface Report {
    requestId: string;
    initDurationMs?: number;
    durationMs: number;
    billedDurationMs: number;
    memorySizeMb: number;
    maxMemoryUsedMb: number;
    line: string;
}

/** Parses the emulator's (and Lambda's) tab-separated REPORT line. */
export function parseReportLine(line: string): Report | undefined {
    const m = /REPORT RequestId: (\S+)/.exec(line);
    if (!m) return undefined;
    const num = (label: string): number | undefined => {
        const r = new RegExp(`${label}: ([0-9.]+)`).exec(line);
        return r ? Number(r[1]) : undefined;
    };
    const duration = num("Duration");
    if (duration === undefined) return undefined;
    return {
        requestId: m[1],
        initDurationMs: num("Init Duration"),
        // "Init Duration" also matches "Duration: "; search the plain one after the init field.
        durationMs: num("\\tDuration") ?? duration,
        billedDurationMs: num("Billed Duration") ?? Math.ceil(duration),
        memorySizeMb: num("Memory Size") ?? 0,
        maxMemoryUsedMb: num("Max Memory Used") ?? 0,
        line: line.trim(),
    };
}

/** The runtime's real init time from the emulator's own log: "INIT REPORT(durationMs: 5872.616000)". */
export function initReportMs(line: string): number | undefined {
    const m = /\(rapid\) INIT REPORT\(durationMs: ([0-9.]+)\)/.exec(line);
    return m ? Number(m[1]) : undefined;
}

/** The handler's own time for a request, from its structured "request done" log line (app/handler.py). */
export function handlerDurationMs(line: string): { requestId: string; durationMs: number } | undefined {
    if (!line.startsWith("{")) return undefined;
    try {
        const rec = JSON.parse(line);
        if (rec.message === "request done" && typeof rec.function_request_id === "string" && typeof rec.duration_ms === "number") {
            return { requestId: rec.function_request_id, durationMs: rec.duration_ms };
        }
    } catch {
        // Not one of ours.
    }
    return undefined;
}

/**
 * The runtime's own time for one invocation, from the emulator's "(rapid) INVOKE RTDONE(status: success, produced
 * bytes: 0, duration: 9.395000ms)": the event handed to the runtime to its response. The REPORT line's Duration of
 * a cold invoke also covers the init (the emulator starts the runtime inside the first invoke), this does not.
 */
export function invokeRtDoneMs(line: string): number | undefined {
    const m = /\(rapid\) INVOKE RTDONE\(.*duration: ([0-9.]+)ms\)/.exec(line);
    return m ? Number(m[1]) : undefined;
}

/** The address the emulator could not bind (its panic "listen tcp ADDR: bind: address already in use"), if any. */
export function bindConflict(log: string): string | undefined {
    return /listen tcp (\S+): bind: address already in use/i.exec(log)?.[1];
}
