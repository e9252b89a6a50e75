/**
 * Packaging: layer count, the measured unzipped size of code + layers, images pinned by digest, ECR settings.
 */
import * as aws from "@pulumi/aws";
import { MAX_LAYERS, UNZIPPED_LIMIT_BYTES } from "../components/limits";
import { TAG_UNZIPPED_BYTES } from "../components/identity";
import { fmt, isZip } from "./common";
import { resourcePolicy, WithExclude } from "./factory";
import { peek } from "./relate";

interface LayersConfig extends WithExclude {
    maxLayers: number;
}
export const lambdaMaxLayers = resourcePolicy({
    name: "lambda-max-layers",
    description: `Checks whether each Lambda function uses at most ${MAX_LAYERS} layers, and container image functions none.`,
    enforcementLevel: "mandatory",
    config: {
        maxLayers: { type: "integer", minimum: 0, maximum: MAX_LAYERS, default: MAX_LAYERS, description: `Most layers a function may use (Lambda allows ${MAX_LAYERS}).` },
    },
    resource: aws.lambda.Function,
    validate: (fn, args, report, cfg: LayersConfig) => {
        const n = fn.layers?.length ?? 0;
        if (!isZip(fn) && n > 0) report(`container image functions cannot use layers (${n} given): put the dependencies in the image.`);
        else if (n > cfg.maxLayers) report(`${n} layers exceed the limit of ${cfg.maxLayers}; merge layers (the component builds a dependency layer, and a model layer when the model fits) or use the image path.`);
    },
});

interface UnzippedConfig extends WithExclude {
    maxUnzippedBytes: number;
    requireMeasurement: boolean;
}
export const lambdaUnzippedSizeWithinLimit = resourcePolicy({
    name: "lambda-unzipped-size-within-limit",
    description: `Checks whether each zip Lambda function's measured unzipped size of code + all layers (the "${TAG_UNZIPPED_BYTES}" tag set by MlLambda) is within ${fmt(UNZIPPED_LIMIT_BYTES)} bytes.`,
    enforcementLevel: "mandatory",
    config: {
        maxUnzippedBytes: {
            type: "integer",
            minimum: 0,
            maximum: UNZIPPED_LIMIT_BYTES,
            default: UNZIPPED_LIMIT_BYTES,
            description: `Largest measured code + layers size, unzipped (Lambda: ${fmt(UNZIPPED_LIMIT_BYTES)} bytes).`,
        },
        requireMeasurement: {
            type: "boolean",
            default: false,
            description: `Treat a zip function without the "${TAG_UNZIPPED_BYTES}" tag as a violation (default: not applicable).`,
        },
    },
    resource: aws.lambda.Function,
    validate: (fn, args, report, cfg: UnzippedConfig) => {
        if (!isZip(fn)) args.notApplicable("container image functions are limited by image size (10 GB), not the unzipped limit");
        const tag = fn.tags?.[TAG_UNZIPPED_BYTES];
        if (tag === undefined) {
            if (cfg.requireMeasurement) report(`the function has no "${TAG_UNZIPPED_BYTES}" tag: its unzipped size was not measured. Deploy it with MlLambda, or set the tag from a measurement.`);
            else args.notApplicable(`no "${TAG_UNZIPPED_BYTES}" tag (not measured by MlLambda)`);
            return;
        }
        const bytes = Number(tag);
        if (!/^\d+$/.test(String(tag)) || !Number.isSafeInteger(bytes)) {
            report(`the "${TAG_UNZIPPED_BYTES}" tag is "${tag}", not a byte count.`);
        } else if (bytes > cfg.maxUnzippedBytes) {
            report(`code + layers measure ${fmt(bytes)} bytes unzipped, over the ${fmt(cfg.maxUnzippedBytes)}-byte limit (AWS: "Function code combined with layers exceeds the maximum allowed size of ${UNZIPPED_LIMIT_BYTES} bytes"). Use packaging "image", or slim the dependencies (e.g. the onnx backend).`);
        }
    },
});

export const lambdaImagePinnedByDigest = resourcePolicy({
    name: "lambda-image-pinned-by-digest",
    description: "Checks whether each container image Lambda function references its image by digest (imageUri contains \"@sha256:\"), never by a movable tag.",
    enforcementLevel: "mandatory",
    resource: aws.lambda.Function,
    validate: (fn, args, report) => {
        if (isZip(fn)) args.notApplicable("zip function");
        const uri = peek<string>(args.props, "imageUri");
        if (!uri.known) args.notApplicable("imageUri is computed by the image push and unknown in preview; `pulumi up` checks it before the function is written");
        const value = (uri as { value: string }).value;
        if (!value || !/@sha256:[0-9a-f]{64}$/.test(value)) {
            report(`imageUri "${value ?? ""}" is not pinned by digest: a tag can be moved, so a redeploy or rollback may run a different image. Use repo@sha256:<digest> (docker.Image.repoDigest).`);
        }
    },
});

export const ecrScanOnPush = resourcePolicy({
    name: "ecr-scan-on-push",
    description: "Checks whether each ECR repository scans images on push (imageScanningConfiguration.scanOnPush).",
    enforcementLevel: "mandatory",
    resource: aws.ecr.Repository,
    validate: (repo, args, report) => {
        if (repo.imageScanningConfiguration?.scanOnPush !== true) {
            report("the repository does not scan images on push: set imageScanningConfiguration: { scanOnPush: true } so known CVEs in the ML stack's wheels are reported.");
        }
    },
});

interface ImmutableConfig extends WithExclude {
    allowExclusions: boolean;
}
export const ecrImmutableTags = resourcePolicy({
    name: "ecr-immutable-tags",
    description: "Checks whether each ECR repository has immutable image tags (imageTagMutability IMMUTABLE).",
    enforcementLevel: "mandatory",
    config: {
        allowExclusions: { type: "boolean", default: false, description: "Accept IMMUTABLE_WITH_EXCLUSION (some tags stay mutable)." },
    },
    resource: aws.ecr.Repository,
    validate: (repo, args, report, cfg: ImmutableConfig) => {
        const m = repo.imageTagMutability ?? "MUTABLE";
        const ok = m === "IMMUTABLE" || (cfg.allowExclusions && m === "IMMUTABLE_WITH_EXCLUSION");
        if (!ok) report(`imageTagMutability is ${m}: a pushed tag can be overwritten. Set imageTagMutability: "IMMUTABLE".`);
    },
});
