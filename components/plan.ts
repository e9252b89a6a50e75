/**
 * The plan: build, measure and decide, before any resource exists. Everything the graph's shape depends on (zip or
 * image, which artifacts, their hashes) is known when preparePackaging returns, so a mistake or an impossible
 * packaging fails before the component registers anything, and the offline plan sees the same decision as `up`.
 * Pulumi-free: the component (mlLambda.ts) only wires resources from a PackagingPlan.
 */
import * as path from "path";
import { bundledPython, LAYER_MODEL_DIR } from "./assets";
import { engineAnswersSync, measureImageSync } from "./docker/measure";
import { MlLambdaError } from "./errors";
import { IMAGE_LIMIT_BYTES, RUNTIMES } from "./limits";
import { modelLayer, modelLayerBytes, ModelLayer, modelObjectKey, prepareModel, PreparedModel } from "./model";
import { buildLayer, buildSource, BuildSource, decide, Decision, formatSizeTable, LayerBuild, Measurement, measureDir, PackageSize, zipDirectory } from "./packaging";
import { fmtInt, formatBytes } from "./packaging/decide";
import { bytecodeCompiler, CompileResult, layerWithBytecode, stageCodeWithBytecode } from "./packaging/bytecode";
import { chooseDelivery, DELIVERY_OPTIONS, DeliveryCandidate, DeliveryDecision, ModelPlacement } from "./packaging/delivery";
import type { OmittedDistribution } from "./packaging/omit";
import { stageImageContext, StagedContext } from "./packaging/imageContext";
import { checkImageSize, formatImageReport, ImageMeasurement, imageSizeReport, ImageSizeReport } from "./packaging/imageSize";
import { pinnedRequirements, PinnedRequirements } from "./packaging/lock";
import type { NormalizedArgs } from "./validate";

/** What was built and decided before any resource exists. */
export interface PackagingPlan {
    decision: Decision;
    model: PreparedModel;
    /** What the dependencies were built from: the requirements file, or the pins exported from a uv.lock. */
    requirements: PinnedRequirements;
    /** Built unless packaging is forced to "image". On the zip path: the layer deployed (its bytecode variant when bytecode ships). */
    layer?: LayerBuild;
    /** The function code zip (measured on both paths; deployed on the zip path, with bytecode when it ships). */
    code: { zipPath: string; bytes: number; sha256: string; measurement: Measurement };
    /** Zip path: where the model goes and whether bytecode ships, with every option's bytes (packaging/delivery.ts). */
    delivery?: DeliveryDecision;
    /** Zip path, model in a layer: the model's layer zip (deployed as a second layer, before any external one). */
    modelLayer?: ModelLayer;
    /** Zip path: what the bytecode build did, or why there is none. */
    bytecode?: BytecodeReport;
    /** Things the user should know (no interpreter for bytecode, ...): the component logs them as warnings. */
    warnings: string[];
    externalLayerBytes: number;
    /** Image path only. */
    context?: StagedContext;
    /** Image path, when the image was built and measured at plan time (see PlanOptions.measureImage). */
    image?: ImageMeasurement;
    packages: PackageSize[];
    /** What the build read: the handler directory and the requirements (a uv project: pyproject.toml and uv.lock),
     * with digests, so a recorded build can tell it is stale (`ml-lambda invoke --stack`). */
    sources: BuildSource[];
}

export interface PlanOptions {
    /**
     * Image path: build the staged context once through the Docker engine and measure the image (uncompressed
     * size, layers), refusing one over Lambda's 10 GiB limit before anything is pushed. The component asks for it
     * on `pulumi up` (not in previews, not under the mock engine); without an answering engine that fails,
     * naming Docker.
     */
    measureImage?: boolean;
}

/** The bytecode of the zip path: compiled (and shipped or not), or why not. */
export interface BytecodeReport {
    /** Whether the deployed code zip and layer carry it. */
    shipped: boolean;
    /** The compiling CPython's version, when one was found. */
    python?: string;
    /** Bytes the .pyc files add to the code zip and to the layer (unzipped), when compiled. */
    codeBytes?: number;
    layerBytes?: number;
    pycFiles?: number;
    /** Sources the compiler refused (left as source). */
    failed?: string[];
    /** Why it does not ship: turned off, no interpreter, or it did not fit beside the model. */
    why?: string;
}

interface MeasuredParts {
    codeBytes: number;
    /** The dependency layer's unzipped size when one was built (on the image path: the measurement that ruled zip out). */
    layerBytes: number;
    externalLayerBytes: number;
    /** The largest packages of the dependency layer (at most 25). */
    packages: PackageSize[];
}

/** Zip path: code + layers (+ the model's layer) against Lambda's 262,144,000-byte unzipped limit. */
export type ZipSizeReport = Decision & MeasuredParts & {
    mode: "zip";
    /** Files in the code zip (codeBytes is their unzipped size). */
    codeFiles: number;
    /** The model: its bytes and where it went (a layer of its own at /opt/ml/model, or the bucket). */
    model: { delivery: ModelPlacement; unzippedBytes: number; files: number; dir?: string; layerZipBytes?: number; archiveBytes?: number; s3Key?: string };
    bytecode: BytecodeReport;
    /** Every delivery option, fastest first as measured, with its bytes and whether it fits. */
    deliveryOptions: DeliveryCandidate[];
    /** What the requirements' omit lines left out of the layer. */
    omitted: OmittedDistribution[];
};

/**
 * Image path: the image against Lambda's 10 GiB container image limit, never the zip limit. totalBytes is the
 * image's uncompressed size when it was measured; `image` says how (or why it was not).
 */
export type ImagePathSizeReport = MeasuredParts & {
    mode: "image";
    reasons: string[];
    limitBytes: number;
    totalBytes?: number;
    image: ImageSizeReport;
};

/**
 * The size report exported as a stack output, registered on the component (so tools reading the graph see the
 * decision) and printed during preview/up: the decision itself, plus what was measured.
 */
export type SizeReport = ZipSizeReport | ImagePathSizeReport;

/** The code zip leaves these out (and, without bytecode, any stale bytecode of the handler directory). */
const CODE_EXCLUDE = ["__pycache__", "*.pyc", "tests"];

/** The handler directory (as the code zip takes it) and the requirements files the user edits. */
function buildSources(handlerDir: string, requirements: PinnedRequirements): BuildSource[] {
    return [buildSource("the function's code", handlerDir, CODE_EXCLUDE), ...requirements.read.map((r) => buildSource(r.what, r.path))];
}

/** Build, measure and decide: everything the graph's shape depends on, before any resource exists. */
export function preparePackaging(cfg: NormalizedArgs, opts: PlanOptions = {}): PackagingPlan {
    const model = prepareModel(cfg.model, cfg.cacheDir, cfg.backend, { architecture: cfg.architecture });
    const zipPath = path.join(cfg.cacheDir, "code", `${cfg.functionName}.zip`);
    const built = zipDirectory(cfg.handlerDir, zipPath, { exclude: CODE_EXCLUDE });
    let code = { zipPath, bytes: built.bytes, sha256: built.sha256, measurement: built.measurement };
    const externalLayerBytes = cfg.layers.map((l) => l.unzippedBytes);
    const log = (line: string) => process.stderr.write(`[ml-lambda] ${line}\n`);
    const warnings: string[] = [];
    // A uv project's lock, checked and exported to pins: both paths build exactly those versions.
    const requirements = pinnedRequirements({ requirements: cfg.requirements, runtime: cfg.runtime, cacheDir: cfg.cacheDir, log });
    let layer: LayerBuild | undefined;
    if (cfg.packaging !== "image") {
        layer = buildLayer({
            requirements: requirements.file,
            runtime: cfg.runtime,
            architecture: cfg.architecture,
            cacheDir: cfg.cacheDir,
            log,
        });
        if (layer.omitted?.length && path.resolve(cfg.handlerDir) !== path.resolve(bundledPython().handlerDir) &&
            path.resolve(cfg.requirements) === path.resolve(bundledPython().requirementsOnnx)) {
            warnings.push(`the bundled ONNX profile leaves ${layer.omitted.map((o) => o.name).join(", ")} out of the layer (the bundled function never imports them); ` +
                `if your handler (${cfg.handlerDir}) imports one, give it its own requirements file`);
        }
    }
    // First the zip path itself: code + the dependency layer, no model, no bytecode (the least it can be).
    const zipOrImage = decide({
        codeBytes: code.measurement.unzippedBytes,
        layerBytes: layer ? [layer.measurement.unzippedBytes] : [],
        externalLayerBytes,
        headroomBytes: cfg.headroomBytes,
        forced: cfg.packaging,
        missingWheels: layer?.missingWheels ?? [],
        // So the reason names the culprit ("torch 5.1 GiB with what it pulls in"), not just the bytes over.
        packages: layer?.measurement.packages,
        weights: layer?.weights,
    });
    const base = { model, requirements, code, externalLayerBytes: externalLayerBytes.reduce((a, b) => a + b, 0), warnings, sources: buildSources(cfg.handlerDir, requirements) };
    if (zipOrImage.mode === "image") {
        if (cfg.modelDelivery !== "auto") {
            throw new MlLambdaError("modelDelivery", cfg.modelDelivery,
                `the function goes to the image path (${zipOrImage.reasons.join("; ")}), which bakes the model into the image: there is no layer or S3 fetch to choose`,
                'leave modelDelivery "auto", or make the zip path fit (see the reasons)');
        }
        const context = stageImageContext({
            cacheDir: cfg.cacheDir,
            dockerfile: cfg.dockerfile,
            requirements: requirements.file,
            handlerDir: cfg.handlerDir,
            modelDir: model.stagedDir,
            modelContentKey: path.basename(model.stagedDir, ".dir"),
        });
        const imagePlan = { ...base, decision: zipOrImage, layer, packages: layer?.measurement.packages ?? [], context };
        if (!opts.measureImage) return imagePlan;
        return { ...imagePlan, image: measureImage(cfg, context) };
    }

    // Zip path: measure the bytecode variants and the model as a layer, then take the fastest option that fits.
    const deps = layer!;
    let layerPyc: LayerBuild | undefined;
    let codePyc: { stage: string; compiled: CompileResult; bytes: number } | undefined;
    let noBytecode: string | undefined;
    if (!cfg.bytecode) noBytecode = "bytecode is turned off (bytecode: false)";
    else {
        const compiler = bytecodeCompiler(cfg.runtime);
        if (!compiler.ok) {
            noBytecode = `no CPython ${RUNTIMES[cfg.runtime].python} on this machine to compile it`;
            const [fast, slow] = [DELIVERY_OPTIONS.find((o) => o.model === "layer" && o.bytecode)!, DELIVERY_OPTIONS.find((o) => o.model === "layer" && !o.bytecode)!];
            warnings.push(`no bytecode in the layer and code zip: ${compiler.why}. Without it every cold start compiles the modules it imports ` +
                `(/opt and /var/task are read-only): ${slow.measuredMs - fast.measuredMs} ms more to the first response as measured ` +
                `(${fast.measuredMs} vs ${slow.measuredMs} ms, the model in a layer; faithful run, 1 CPU). ` +
                `Set ML_LAMBDA_RUNTIME_PYTHON to a python${RUNTIMES[cfg.runtime].python} executable, or install one, and deploy again`);
        } else {
            layerPyc = layerWithBytecode(deps, compiler.python, cfg.cacheDir, log);
            const stage = path.join(cfg.cacheDir, "code", `${cfg.functionName}.bytecode`);
            const compiled = stageCodeWithBytecode(cfg.handlerDir, CODE_EXCLUDE, stage, compiler.python);
            codePyc = { stage, compiled, bytes: measureDir(stage).unzippedBytes };
        }
    }
    const modelBytes = modelLayerBytes(model);
    const delivery = chooseDelivery({
        codeBytes: code.measurement.unzippedBytes,
        codeWithBytecodeBytes: codePyc?.bytes,
        layerBytes: deps.measurement.unzippedBytes,
        layerWithBytecodeBytes: layerPyc?.measurement.unzippedBytes,
        externalLayerBytes,
        modelBytes,
        forced: cfg.modelDelivery,
        noBytecode,
        headroomBytes: cfg.headroomBytes,
    });
    const deployedLayer = delivery.bytecode ? layerPyc! : deps;
    if (delivery.bytecode) {
        const z = zipDirectory(codePyc!.stage, zipPath);
        code = { zipPath, bytes: z.bytes, sha256: z.sha256, measurement: z.measurement };
    }
    const mLayer = delivery.model === "layer" ? modelLayer(model, log) : undefined;
    // The decision as deployed: the chosen code, layer and model layer (it fits: chooseDelivery checked).
    const decision = decide({
        codeBytes: code.measurement.unzippedBytes,
        layerBytes: [deployedLayer.measurement.unzippedBytes, ...(mLayer ? [mLayer.unzippedBytes] : [])],
        externalLayerBytes,
        headroomBytes: cfg.headroomBytes,
        forced: cfg.packaging,
        packages: deployedLayer.measurement.packages,
        weights: deployedLayer.weights,
    });
    decision.reasons.push(...delivery.reasons);
    const bytecode: BytecodeReport = layerPyc && codePyc
        ? {
            shipped: delivery.bytecode,
            python: codePyc.compiled.python,
            codeBytes: codePyc.bytes - built.measurement.unzippedBytes,
            layerBytes: layerPyc.measurement.unzippedBytes - deps.measurement.unzippedBytes,
            pycFiles: (layerPyc.bytecode?.pycFiles ?? 0) + codePyc.compiled.pycFiles,
            failed: [...(layerPyc.bytecode?.failed ?? []), ...codePyc.compiled.failed],
            ...(delivery.bytecode ? {} : { why: "it does not fit beside the model's layer, which is worth more (see the delivery options)" }),
        }
        : { shipped: false, why: noBytecode };
    return {
        ...base,
        code,
        decision,
        layer: deployedLayer,
        packages: deployedLayer.measurement.packages,
        delivery,
        ...(mLayer ? { modelLayer: mLayer } : {}),
        bytecode,
    };
}

/** The image built from the staged context with docker.Image's own build args and platform, measured and checked. */
function measureImage(cfg: NormalizedArgs, context: StagedContext): ImageMeasurement {
    const engine = engineAnswersSync();
    if (!engine.ok) {
        throw new MlLambdaError("packaging", "image",
            `the image path builds a container image and needs a Docker engine, and none answers (${engine.why})`,
            "start Docker (or set DOCKER_HOST to a running engine) and deploy again; or deploy the zip path: backend \"onnx\" fits it");
    }
    process.stderr.write(`[ml-lambda] building the image once to measure it (docker.Image reuses the build): ${context.dir}\n`);
    const image = measureImageSync({
        context: context.dir,
        dockerfile: path.relative(context.dir, context.dockerfile),
        tag: `ml-lambda-measure/${cfg.functionName.toLowerCase()}:${context.hash.slice(0, 20)}`,
        buildArgs: imageBuildArgs(cfg),
        platform: imagePlatform(cfg),
    });
    checkImageSize(image);
    return image;
}

/**
 * docker.Image's build args and platform: one place, so the plan's measurement builds what deploy builds.
 * For builds that cannot reach the public sources: ML_LAMBDA_BASE_IMAGE replaces AWS's base image (the Dockerfile's
 * BASE_IMAGE: a mirror of it in your own registry, or the local stand-in the image tests build), and
 * ML_LAMBDA_TORCH_INDEX_URL the PyTorch CPU index (TORCH_INDEX_URL: a mirror that serves the +cpu wheels).
 */
export function imageBuildArgs(cfg: NormalizedArgs, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
    return {
        PYTHON_VERSION: RUNTIMES[cfg.runtime].python,
        ...(env.ML_LAMBDA_BASE_IMAGE ? { BASE_IMAGE: env.ML_LAMBDA_BASE_IMAGE } : {}),
        ...(env.ML_LAMBDA_TORCH_INDEX_URL ? { TORCH_INDEX_URL: env.ML_LAMBDA_TORCH_INDEX_URL } : {}),
    };
}

export function imagePlatform(cfg: NormalizedArgs): string {
    return cfg.architecture === "arm64" ? "linux/arm64" : "linux/amd64";
}

/**
 * Packages without a wheel for the runtime's platform still break the image path: the AWS base image runs the same
 * Amazon Linux, so `pip install` in the Dockerfile must compile them from source (or fail, e.g. torch 2.15 has no
 * wheel for python3.11's glibc 2.26). Say so at plan time rather than at `docker build`.
 */
export function imageBuildWarnings(cfg: NormalizedArgs, plan: PackagingPlan): string[] {
    if (plan.decision.mode !== "image" || !plan.layer?.missingWheels.length) return [];
    const names = plan.layer.missingWheels.map((m) => m.name).join(", ");
    return [`no ${cfg.runtime} ${cfg.architecture} wheel for ${names}: the image build will have to compile from source or fail; ` +
        `pin versions that publish wheels for this runtime, or use a newer runtime`];
}

export function sizeReport(plan: PackagingPlan): SizeReport {
    const measured: MeasuredParts = {
        codeBytes: plan.code.measurement.unzippedBytes,
        layerBytes: plan.layer?.measurement.unzippedBytes ?? 0,
        externalLayerBytes: plan.externalLayerBytes,
        packages: plan.packages.slice(0, 25),
    };
    if (plan.decision.mode === "zip") {
        const d = plan.delivery!;
        const m = plan.model;
        return {
            ...plan.decision,
            ...measured,
            mode: "zip",
            codeFiles: plan.code.measurement.files,
            model: d.model === "layer"
                ? { delivery: "layer", unzippedBytes: plan.modelLayer!.unzippedBytes, files: plan.modelLayer!.files, dir: LAYER_MODEL_DIR, layerZipBytes: plan.modelLayer!.zipBytes }
                : { delivery: "s3", unzippedBytes: m.unpackedBytes, files: m.files.length, archiveBytes: m.bytes, s3Key: modelObjectKey(m) },
            bytecode: plan.bytecode ?? { shipped: false },
            deliveryOptions: d.candidates,
            omitted: plan.layer?.omitted ?? [],
        };
    }
    const image = imageSizeReport(plan.image);
    return {
        mode: "image",
        reasons: plan.decision.reasons,
        limitBytes: IMAGE_LIMIT_BYTES,
        ...(image.uncompressedBytes !== undefined ? { totalBytes: image.uncompressedBytes } : {}),
        ...measured,
        image,
    };
}

/**
 * The zip path's table for Pulumi's log and `ml-lambda plan`: the layer's packages, the code and the model's layer
 * as rows, the total against the limit; then where the model went, the bytecode, what the omit lines left out, and
 * every delivery option (fastest first as measured) with its bytes.
 */
/** The size report's table on either path: the zip path's (formatZipSizeReport) or the image's. */
export function formatSizeReport(r: SizeReport, opts: { top?: number } = {}): string {
    return r.mode === "zip" ? formatZipSizeReport(r, opts) : formatImageReport(r.image, r.reasons);
}

export function formatZipSizeReport(r: ZipSizeReport, opts: { top?: number } = {}): string {
    const parts: PackageSize[] = [{ name: "function code (/var/task)", bytes: r.codeBytes, files: r.codeFiles }];
    if (r.model.delivery === "layer") parts.push({ name: `model layer (${r.model.dir})`, bytes: r.model.unzippedBytes, files: r.model.files });
    const notes: string[] = [];
    notes.push(r.model.delivery === "layer"
        ? `model: in a layer of its own at ${r.model.dir}, ${fmtInt(r.model.unzippedBytes)} bytes unzipped (zip ${fmtInt(r.model.layerZipBytes ?? 0)} bytes); nothing fetched at init`
        : `model: from S3 (${r.model.s3Key}, ${fmtInt(r.model.archiveBytes ?? 0)} bytes, uncompressed tar), unpacked into /tmp at init; not counted above`);
    const b = r.bytecode;
    notes.push(b.shipped
        ? `bytecode: shipped (CPython ${b.python}, unchecked-hash): layer +${fmtInt(b.layerBytes ?? 0)} bytes, code +${fmtInt(b.codeBytes ?? 0)} bytes, ${fmtInt(b.pycFiles ?? 0)} .pyc` +
            (b.failed?.length ? `; ${b.failed.length} source(s) the compiler refused` : "")
        : `bytecode: not shipped: ${b.why ?? "not built"}`);
    if (r.omitted.length) {
        const total = r.omitted.reduce((a, o) => a + o.bytes, 0);
        const named = r.omitted.filter((o) => o.reason === "omit line").map((o) => {
            const brought = r.omitted.filter((x) => x.reason === o.name);
            return brought.length ? `${o.name} (+${brought.length} it pulled in)` : o.name;
        });
        notes.push(`left out of the layer (the requirements' omit lines): ${named.join(", ")}: ${fmtInt(total)} bytes (${formatBytes(total)})`);
    }
    notes.push("delivery options, fastest first (time to first response as measured; bytes unzipped):");
    for (const c of r.deliveryOptions) {
        const taken = c.model === r.model.delivery && c.bytecode === b.shipped;
        notes.push(`  ${taken ? "->" : "  "} ${c.label.padEnd(30)} ${fmtInt(c.measuredMs).padStart(6)} ms  ${fmtInt(c.totalBytes).padStart(12)} B  ${c.fits ? (taken ? "taken" : "fits") : c.why}`);
    }
    // The delivery's own reasons are in r.reasons already (after the zip path's).
    return formatSizeTable(r, r.packages, { top: opts.top, parts, notes });
}
