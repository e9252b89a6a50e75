/**
 * The runtime's interpreter for the faithful run: components/runtimePython.ts (the build compiles bytecode with the
 * same one), with its failures turned into RunError, the CLI's error type (exit 2, the message as it is).
 */
import * as rp from "../../components/runtimePython";
import { RunError } from "./types";

export type { RuntimePython } from "../../components/runtimePython";
export { layoutProblem, howToGet, probePython, pyenvRoots } from "../../components/runtimePython";

function asRunError<T>(f: () => T): T {
    try {
        return f();
    } catch (e) {
        if (e instanceof rp.RuntimePythonError) throw new RunError(e.message);
        throw e;
    }
}

export function runtimeMinor(runtime: string): string {
    return asRunError(() => rp.runtimeMinor(runtime));
}

export function findRuntimePython(runtime: string, env: NodeJS.ProcessEnv = process.env): rp.RuntimePython {
    return asRunError(() => rp.findRuntimePython(runtime, env));
}
