/**
 * CrossGuard policies for ML Lambdas. Every policy is an exported constant; this module never constructs a
 * PolicyPack (that starts a gRPC server), so tests and the offline plan (policy/evaluate.ts) can import it.
 * policy/index.ts assembles `mlLambdaPolicies` into the pack for `pulumi preview --policy-pack policy`.
 *
 * Levels: AWS hard limits, security and "will not deploy / will not work" settings are mandatory; ML sizing
 * heuristics (memory and timeout minimums), an announced runtime deprecation and an unmanaged log group are
 * advisory. A stack can raise (or lower) any level in its policy config file (policy/config.prod.json raises the
 * ML minimums to mandatory and requires reserved concurrency).
 *
 * Every policy has a config schema whose properties all have defaults; `exclude` (resource logical names) is the
 * escape hatch for a resource that is deliberately different. policy/factory.ts adds it and applies the defaults;
 * each area of the pack is one file (sizing, runtime, snapStart, packaging, storage, security, logs, concurrency),
 * and this module lists them: it is the "pulumi-ml-lambda/policy" entry of the package.
 *
 * Preview honesty: values computed by AWS (ARNs, ids, an image digest, policy documents built from ARNs) are
 * unknown on a first `pulumi preview`. Resource policies read only inputs known in preview, except the image
 * digest, which says it is not applicable until `pulumi up`. Stack policies relate resources through the
 * engine's property dependencies, read values with `peek`, and when an answer depends on an unknown value they
 * report not-applicable with the reason instead of guessing; `pulumi up` runs them again on real values.
 */
import { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { lambdaMemoryWithinLimits, mlLambdaMemoryMinimum, lambdaTimeoutWithinLimits, mlLambdaTimeoutColdLoad } from "./sizing";
import { lambdaRuntimeNotDeprecated, lambdaRuntimeDeprecationApproaching } from "./runtime";
import { lambdaSnapStartCompatible, lambdaSnapStartWithoutProvisionedConcurrency } from "./snapStart";
import { lambdaMaxLayers, lambdaUnzippedSizeWithinLimit, lambdaImagePinnedByDigest, ecrScanOnPush, ecrImmutableTags } from "./packaging";
import { modelBucketEncrypted, modelBucketVersioned, modelBucketPublicAccessBlocked, modelBucketTlsOnly } from "./storage";
import { lambdaRoleLeastPrivilege, lambdaFunctionUrlAuth } from "./security";
import { cloudwatchLogGroupRetention, lambdaLogGroupManaged } from "./logs";
import { lambdaReservedConcurrency, lambdaProvisionedWithinReserved } from "./concurrency";

export {
    lambdaMemoryWithinLimits,
    mlLambdaMemoryMinimum,
    lambdaTimeoutWithinLimits,
    mlLambdaTimeoutColdLoad,
    lambdaRuntimeNotDeprecated,
    lambdaRuntimeDeprecationApproaching,
    lambdaSnapStartCompatible,
    lambdaSnapStartWithoutProvisionedConcurrency,
    lambdaMaxLayers,
    lambdaUnzippedSizeWithinLimit,
    lambdaImagePinnedByDigest,
    ecrScanOnPush,
    ecrImmutableTags,
    modelBucketEncrypted,
    modelBucketVersioned,
    modelBucketPublicAccessBlocked,
    modelBucketTlsOnly,
    lambdaRoleLeastPrivilege,
    cloudwatchLogGroupRetention,
    lambdaLogGroupManaged,
    lambdaFunctionUrlAuth,
    lambdaReservedConcurrency,
    lambdaProvisionedWithinReserved,
};
export { DEFAULT_DENIED_MANAGED_POLICIES } from "./security";

/** Every policy, in the order the pack and the offline plan list them. */
export const mlLambdaPolicies: Array<ResourceValidationPolicy | StackValidationPolicy> = [
    lambdaMemoryWithinLimits,
    mlLambdaMemoryMinimum,
    lambdaTimeoutWithinLimits,
    mlLambdaTimeoutColdLoad,
    lambdaRuntimeNotDeprecated,
    lambdaRuntimeDeprecationApproaching,
    lambdaSnapStartCompatible,
    lambdaSnapStartWithoutProvisionedConcurrency,
    lambdaMaxLayers,
    lambdaUnzippedSizeWithinLimit,
    lambdaImagePinnedByDigest,
    ecrScanOnPush,
    ecrImmutableTags,
    modelBucketEncrypted,
    modelBucketVersioned,
    modelBucketPublicAccessBlocked,
    modelBucketTlsOnly,
    lambdaRoleLeastPrivilege,
    cloudwatchLogGroupRetention,
    lambdaLogGroupManaged,
    lambdaFunctionUrlAuth,
    lambdaReservedConcurrency,
    lambdaProvisionedWithinReserved,
];
