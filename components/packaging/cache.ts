import * as path from "path";

/** The build cache: ML_LAMBDA_CACHE_DIR, else `<cwd>/.ml-lambda` (ignored by the project's .gitignore). */
export function defaultCacheDir(): string {
    const env = process.env.ML_LAMBDA_CACHE_DIR;
    return env ? path.resolve(env) : path.join(process.cwd(), ".ml-lambda");
}
