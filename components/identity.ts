/**
 * How tools reading the graph (the policy pack, the offline plan, previews) recognise what MlLambda registers: the
 * component's type token and the tags it puts on the function. A module of its own so those tools can import them
 * without loading (and type-checking) the whole component.
 */
export const MLLAMBDA_TYPE = "pulumi-ml-lambda:index:MlLambda";
export const TAG_PACKAGING = "ml-lambda:packaging";
export const TAG_UNZIPPED_BYTES = "ml-lambda:unzipped-bytes";
