import * as path from "path";

export const REPO = path.resolve(__dirname, "..");
/** Shared build cache for every test (ignored folder of the repo): layer builds and model archives are reused. */
export const TEST_CACHE = process.env.ML_LAMBDA_CACHE_DIR ?? path.join(REPO, ".cache", "ml-lambda");
