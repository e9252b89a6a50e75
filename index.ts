/**
 * The project's own program: one MlLambda built from the stack's config (Pulumi.dev.yaml, Pulumi.prod.yaml).
 * `pulumi up -s dev` deploys it; `npm run plan` runs it offline under Pulumi's mock engine.
 */
import { MlLambda } from "./components";
import { readStackConfig } from "./config";

const stack = readStackConfig();
const embeddings = new MlLambda("embeddings", stack.args);

// The stack outputs. Keys that have no value on this stack are left out, not set to undefined: an undefined output
// only draws the engine's "Undefined value (...) will not show as a stack output" warning. imageUri (the
// digest-pinned image) exists on the image path only; modelKey only when the model is fetched from S3 (the zip path
// ships it in a layer of its own when it fits: modelDelivery "layer"); url only when the stack asks for one.
const outputs = {
    functionName: embeddings.functionName,
    functionArn: embeddings.functionArn,
    aliasArn: embeddings.aliasArn,
    packaging: embeddings.packaging,
    modelDelivery: embeddings.modelDelivery,
    modelBucket: embeddings.modelBucketName,
    ...(embeddings.plan.decision.mode === "image" || embeddings.plan.delivery?.model === "s3" ? { modelKey: embeddings.modelKey } : {}),
    sizeReport: embeddings.sizeReport,
    ...(embeddings.plan.decision.mode === "image" ? { imageUri: embeddings.imageUri } : {}),
    ...(embeddings.url ? { url: embeddings.url } : {}),
};
export = outputs;
