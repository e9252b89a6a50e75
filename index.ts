/**
 * The project's own program: one MlLambda built from the stack's config (Pulumi.dev.yaml, Pulumi.prod.yaml).
 * `pulumi up -s dev` deploys it; `npm run plan` runs it offline under Pulumi's mock engine.
 */
import { MlLambda } from "./components";
import { readStackConfig } from "./config";

const stack = readStackConfig();
const embeddings = new MlLambda("embeddings", stack.args);

export const functionName = embeddings.functionName;
export const functionArn = embeddings.functionArn;
export const aliasArn = embeddings.aliasArn;
export const packaging = embeddings.packaging;
export const modelBucket = embeddings.modelBucketName;
export const modelKey = embeddings.modelKey;
export const imageUri = embeddings.imageUri;
export const sizeReport = embeddings.sizeReport;
// Only when the stack asks for one (ml-lambda:url): an undefined stack output makes the engine warn.
if (embeddings.url) module.exports.url = embeddings.url;
