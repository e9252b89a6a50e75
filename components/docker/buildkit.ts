/**
 * Decodes the progress records a BuildKit build streams through the Docker Engine API: each `aux` of a
 * "moby.buildkit.trace" message is a protobuf `moby.buildkit.v1.StatusResponse` (buildkit api/services/control):
 *
 *   StatusResponse { repeated Vertex vertexes = 1; repeated VertexStatus statuses = 2; repeated VertexLog logs = 3; ... }
 *   Vertex         { string digest = 1; repeated string inputs = 2; string name = 3; bool cached = 4;
 *                    Timestamp started = 5; Timestamp completed = 6; string error = 7; ... }
 *   VertexLog      { string vertex = 1; Timestamp timestamp = 2; int64 stream = 3; bytes msg = 4; }
 *   Timestamp      { int64 seconds = 1; int32 nanos = 2; }
 *
 * Only these fields are read; unknown fields are skipped by wire type, so newer engines decode too.
 */

export interface DecodedVertex {
    digest: string;
    name: string;
    cached: boolean;
    /** ms since the epoch */
    started?: number;
    completed?: number;
    error?: string;
}

export interface VertexProgress extends DecodedVertex {
    logs: string[];
}

export interface DecodedLog {
    vertex: string;
    stream: number;
    msg: Buffer;
}

interface Field {
    no: number;
    wire: number;
    value: bigint | Buffer;
}

function* fields(buf: Buffer): Generator<Field> {
    let i = 0;
    const varint = (): bigint => {
        let result = 0n;
        let shift = 0n;
        for (;;) {
            if (i >= buf.length) throw new Error("truncated protobuf varint");
            const b = buf[i++];
            result |= BigInt(b & 0x7f) << shift;
            if ((b & 0x80) === 0) return result;
            shift += 7n;
        }
    };
    while (i < buf.length) {
        const key = Number(varint());
        const no = key >>> 3;
        const wire = key & 7;
        if (wire === 0) yield { no, wire, value: varint() };
        else if (wire === 2) {
            const len = Number(varint());
            yield { no, wire, value: buf.subarray(i, i + len) };
            i += len;
        } else if (wire === 1) {
            i += 8;
        } else if (wire === 5) {
            i += 4;
        } else {
            throw new Error(`unsupported protobuf wire type ${wire}`);
        }
    }
}

function timestampMs(buf: Buffer): number {
    let seconds = 0n;
    let nanos = 0n;
    for (const f of fields(buf)) {
        if (f.no === 1 && f.wire === 0) seconds = f.value as bigint;
        if (f.no === 2 && f.wire === 0) nanos = f.value as bigint;
    }
    return Number(seconds) * 1000 + Number(nanos) / 1e6;
}

export function decodeStatus(buf: Buffer): { vertexes: DecodedVertex[]; logs: DecodedLog[] } {
    const vertexes: DecodedVertex[] = [];
    const logs: DecodedLog[] = [];
    for (const f of fields(buf)) {
        if (f.wire !== 2) continue;
        const body = f.value as Buffer;
        if (f.no === 1) {
            const v: DecodedVertex = { digest: "", name: "", cached: false };
            for (const g of fields(body)) {
                if (g.no === 1 && g.wire === 2) v.digest = (g.value as Buffer).toString("utf8");
                else if (g.no === 3 && g.wire === 2) v.name = (g.value as Buffer).toString("utf8");
                else if (g.no === 4 && g.wire === 0) v.cached = (g.value as bigint) !== 0n;
                else if (g.no === 5 && g.wire === 2) v.started = timestampMs(g.value as Buffer);
                else if (g.no === 6 && g.wire === 2) v.completed = timestampMs(g.value as Buffer);
                else if (g.no === 7 && g.wire === 2) v.error = (g.value as Buffer).toString("utf8");
            }
            vertexes.push(v);
        } else if (f.no === 3) {
            const l: DecodedLog = { vertex: "", stream: 0, msg: Buffer.alloc(0) };
            for (const g of fields(body)) {
                if (g.no === 1 && g.wire === 2) l.vertex = (g.value as Buffer).toString("utf8");
                else if (g.no === 3 && g.wire === 0) l.stream = Number(g.value as bigint);
                else if (g.no === 4 && g.wire === 2) l.msg = Buffer.from(g.value as Buffer);
            }
            logs.push(l);
        }
    }
    return { vertexes, logs };
}
