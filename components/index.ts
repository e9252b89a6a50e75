/** Public API of the pulumi-ml-lambda package. */
export * from "./args";
export { MlLambdaError } from "./errors";
export * as limits from "./limits";
export { MlLambda, MLLAMBDA_TYPE, IMAGE_MODEL_DIR, TAG_PACKAGING, TAG_UNZIPPED_BYTES, preparePackaging, sizeReport } from "./mlLambda";
export type { PackagingPlan, SizeReport } from "./mlLambda";
export { normalizeArgs, DEFAULTS } from "./validate";
export type { NormalizedArgs } from "./validate";
export { DEFAULT_MODEL_ID, DEFAULT_MODEL_REVISION } from "./model";
export { parseStackConfig, STACK_CONFIG_KEYS } from "./stackConfig";
export type { StackConfig } from "./stackConfig";
export * as packaging from "./packaging";
