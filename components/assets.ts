/**
 * The Python function bundled with the package, found from this file's location, and the contract its Dockerfile
 * keeps with the component (a custom Dockerfile keeps it too).
 */
import * as fs from "fs";
import * as path from "path";

/** The bundled function's handler; the bundled Dockerfile's CMD names it. */
export const DEFAULT_HANDLER = "app.handler.lambda_handler";

/** Where the image path bakes the model (the Dockerfile COPYs model/ here; the function reads MODEL_DIR). */
export const IMAGE_MODEL_DIR = "/opt/ml/model";

/**
 * Where the zip path's model layer unpacks (Lambda extracts every layer into /opt): the same directory as the
 * image's, so MODEL_DIR reads the same on both paths.
 */
export const LAYER_MODEL_DIR = IMAGE_MODEL_DIR;

/**
 * The package's own root, found from this file's location (never the caller's cwd), so the bundled Python
 * function is found both from source (components/*.ts) and from an npm install (dist/components/*.js).
 */
export function packageRoot(from: string = __dirname): string {
    let dir = from;
    for (;;) {
        const manifest = path.join(dir, "package.json");
        if (fs.existsSync(manifest)) {
            try {
                if (JSON.parse(fs.readFileSync(manifest, "utf8")).name === "pulumi-ml-lambda") return dir;
            } catch {
                // an unreadable package.json above us is not ours; keep walking
            }
        }
        const parent = path.dirname(dir);
        if (parent === dir) throw new Error(`pulumi-ml-lambda: cannot find the package root above ${from}`);
        dir = parent;
    }
}

/** Paths of the function shipped with the package. */
export function bundledPython() {
    const root = path.join(packageRoot(), "python");
    return {
        root,
        handlerDir: path.join(root, "src"),
        requirementsTorch: path.join(root, "requirements.txt"),
        requirementsOnnx: path.join(root, "requirements-onnx.txt"),
        dockerfile: path.join(root, "Dockerfile"),
        dockerignore: path.join(root, ".dockerignore"),
        dockerScripts: path.join(root, "docker"),
    };
}
