/**
 * Public API of the pulumi-ml-lambda package: the component, its arguments and result types, the error it throws,
 * and the few constants a user writes against (Lambda's limits, the identifiers tools reading the graph use, the
 * image's model directory a custom Dockerfile must fill). The policies are the "pulumi-ml-lambda/policy" entry.
 * Everything else (build, measure, decide, validation) is internal and may change in any release.
 */
export * from "./args";
export { MlLambda } from "./mlLambda";
export type { SizeReport, ZipSizeReport, ImagePathSizeReport, BytecodeReport } from "./plan";
export type { DeliveryCandidate, ModelPlacement } from "./packaging/delivery";
export type { OmittedDistribution } from "./packaging/omit";
export type { ImageSizeReport, ImageLayer } from "./packaging/imageSize";
export type { PackageSize } from "./packaging/measure";
export { MlLambdaError } from "./errors";
export * as limits from "./limits";
export { MLLAMBDA_TYPE, TAG_IMAGE_BYTES, TAG_PACKAGING, TAG_UNZIPPED_BYTES } from "./identity";
export { IMAGE_MODEL_DIR, LAYER_MODEL_DIR } from "./assets";
