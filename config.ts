/**
 * The program's typed stack configuration: reads the "ml-lambda" namespace through pulumi.Config and parses it
 * with the pure parser (components/stackConfig.ts), which names the setting, value, limit and fix on any mistake.
 */
import * as pulumi from "@pulumi/pulumi";
import { CONFIG_NAMESPACE, parseStackConfig, StackConfig } from "./components/stackConfig";

export function readStackConfig(projectDir: string = __dirname): StackConfig {
    const raw: Record<string, unknown> = {};
    // Every key in our namespace, so a misspelt key is reported instead of silently ignored.
    for (const [full, value] of Object.entries(pulumi.runtime.allConfig())) {
        const [ns, key] = full.split(":", 2);
        if (ns === CONFIG_NAMESPACE) raw[key] = value;
    }
    return parseStackConfig(raw, projectDir);
}
