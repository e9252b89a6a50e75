/**
 * Tags MlLambda puts on the function for tools reading the graph (the policy pack, previews). A module of its own
 * so the policy pack can import them without loading (and type-checking) the whole component.
 */
export const TAG_PACKAGING = "ml-lambda:packaging";
export const TAG_UNZIPPED_BYTES = "ml-lambda:unzipped-bytes";
