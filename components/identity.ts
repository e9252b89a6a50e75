/**
 * How tools reading the graph (the policy pack, the offline plan, previews) recognise what MlLambda registers: the
 * component's type token and the tags it puts on the function. A module of its own so those tools can import them
 * without loading (and type-checking) the whole component.
 */
export const MLLAMBDA_TYPE = "pulumi-ml-lambda:index:MlLambda";
export const TAG_PACKAGING = "ml-lambda:packaging";
/** Zip path: the measured unzipped size of code + all layers. */
export const TAG_UNZIPPED_BYTES = "ml-lambda:unzipped-bytes";
/** Image path: the measured uncompressed size of the image, when it was measured (on `pulumi up`). */
export const TAG_IMAGE_BYTES = "ml-lambda:image-bytes";
