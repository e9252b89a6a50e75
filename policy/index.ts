/**
 * The ML Lambda CrossGuard policy pack: only assembles the policies exported by ./policies.
 *
 *   pulumi preview --policy-pack policy                                             # dev: defaults
 *   pulumi preview -s prod --policy-pack policy --policy-pack-config policy/config.prod.json
 *
 * config.prod.json requires reserved concurrency and raises the ML memory/timeout minimums to mandatory.
 * Without the Pulumi CLI or an AWS account, `ml-lambda plan` runs the same policies in-process (policy/evaluate.ts).
 * Consumers of the npm package can build their own pack from `mlLambdaPolicies`
 * (`import { mlLambdaPolicies } from "pulumi-ml-lambda/policy"`); the package ships this pack, compiled, as
 * node_modules/pulumi-ml-lambda/dist/policy, for `pulumi preview --policy-pack`.
 */
import { PolicyPack } from "@pulumi/policy";
import { mlLambdaPolicies } from "./policies";

new PolicyPack("ml-lambda", { policies: mlLambdaPolicies });
