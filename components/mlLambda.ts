import * as aws from "@pulumi/aws";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as path from "path";
import type { MlLambdaArgs, PackagingPath } from "./args";
import { DEFAULT_HANDLER, IMAGE_MODEL_DIR, LAYER_MODEL_DIR } from "./assets";
import * as iam from "./iam";
import { MockMonitor } from "@pulumi/pulumi/runtime/mocks";
import { MlLambdaError } from "./errors";
import { MLLAMBDA_TYPE, TAG_IMAGE_BYTES, TAG_PACKAGING, TAG_UNZIPPED_BYTES } from "./identity";
import { DIRECT_UPLOAD_LIMIT_BYTES } from "./limits";
import { modelContentType, modelObjectKey, PreparedModel } from "./model";
import { formatSizeReport, imageBuildArgs, imageBuildWarnings, imagePlatform, PackagingPlan, preparePackaging, SizeReport, sizeReport } from "./plan";
import { NormalizedArgs, normalizeArgs } from "./validate";

/**
 * An ML/NLP Python function on AWS Lambda: builds and measures its dependencies, chooses zip + layer or a
 * container image, and wires model bucket, role, logs, alarms, version + alias, concurrency and SnapStart.
 */
export class MlLambda extends pulumi.ComponentResource {
    public readonly functionName!: pulumi.Output<string>;
    public readonly functionArn!: pulumi.Output<string>;
    public readonly aliasArn!: pulumi.Output<string>;
    public readonly packaging!: pulumi.Output<PackagingPath>;
    public readonly modelBucketName!: pulumi.Output<string>;
    /**
     * Where the model went: "layer" (a layer of its own at /opt/ml/model, zip path), "s3" (the model bucket, fetched
     * at init, zip path) or "image" (baked into the image).
     */
    public readonly modelDelivery!: pulumi.Output<"layer" | "s3" | "image">;
    /** The model archive's key in the bucket; undefined when the model ships in a layer (no object is uploaded). */
    public readonly modelKey!: pulumi.Output<string | undefined>;
    /** sha256 (hex) of the prepared model archive: the model's content id on every path. */
    public readonly modelSha256!: pulumi.Output<string>;
    /** Digest-pinned image URI (repo@sha256:...) on the image path; undefined on the zip path. */
    public readonly imageUri!: pulumi.Output<string | undefined>;
    public readonly roleArn!: pulumi.Output<string>;
    public readonly logGroupName!: pulumi.Output<string>;
    public readonly sizeReport!: pulumi.Output<SizeReport>;
    /**
     * The HTTPS endpoint (function URL on the `live` alias), when `url` was given; undefined otherwise, so a program
     * exports it only when it exists (the engine warns about undefined stack outputs).
     */
    public readonly url?: pulumi.Output<string>;
    /** The resolved configuration (defaults applied), for tests. @internal */
    public readonly config: NormalizedArgs;
    /** What was built and decided, for tests. @internal */
    public readonly plan: PackagingPlan;

    constructor(name: string, args: MlLambdaArgs, opts?: pulumi.ComponentResourceOptions) {
        // Validation and the build run before super(): a mistake fails before any resource is registered.
        const cfg = normalizeArgs(name, args, { project: pulumi.getProject(), stack: pulumi.getStack() });
        if (cfg.url?.authType === "NONE" && !iam.permissionScopesToFunctionUrls(aws.lambda.Permission)) {
            throw new MlLambdaError("url.authType", "NONE",
                `the installed @pulumi/aws (${awsVersion()}) has no Permission.invokedViaFunctionUrl, so the public lambda:InvokeFunction grant a NONE URL needs could not be limited to calls through the URL`,
                "upgrade @pulumi/aws (7.48.0 has it), or keep authType \"AWS_IAM\"");
        }
        const plan = preparePackaging(cfg, { measureImage: measureImageNow() });
        const report = sizeReport(plan);
        // The report rides on the component's own registration, so any program using MlLambda exposes its
        // packaging decision to tools reading the graph (the offline plan, policy previews).
        // buildSources: what the build read, with digests, so `ml-lambda invoke --stack` can tell a recorded build is
        // stale. Paths relative to the program's directory: the same on every machine that deploys the stack.
        const buildSources = plan.sources.map((s) => ({ ...s, path: path.relative(process.cwd(), s.path) || "." }));
        super(MLLAMBDA_TYPE, name, { packaging: report.mode, sizeReport: report, buildSources }, opts);
        this.config = cfg;
        this.plan = plan;
        for (const w of [...cfg.warnings, ...plan.warnings, ...(plan.model.published?.warnings ?? []), ...imageBuildWarnings(cfg, plan)]) pulumi.log.warn(w, this);
        const table = formatSizeReport(report, { top: 8 });
        pulumi.log.info(`${cfg.functionName}: ${plan.decision.mode} path\n${table}`, this);

        // The bucket stays on every path: layer and code zips over 50 MB are uploaded through it.
        const bucket = this.createModelBucket(name, cfg);
        const modelDelivery = plan.decision.mode === "image" ? "image" : plan.delivery!.model;
        // No object when the model ships in a layer: nothing reads it (the image path keeps its copy, as before).
        const modelObject = modelDelivery === "layer" ? undefined : this.uploadModel(name, cfg, bucket, plan.model);
        const logGroup = this.createLogGroup(name, cfg);
        // Only a function that fetches the model from S3 may read it; a model layer or image needs no S3 access at all.
        const role = this.createRole(name, cfg, logGroup, modelDelivery === "s3" ? modelObject : undefined);
        const fn = plan.decision.mode === "zip"
            ? this.createZipFunction(name, cfg, plan, bucket, modelObject, role, logGroup)
            : this.createImageFunction(name, cfg, plan, role, logGroup);
        const alias = this.createAlias(name, fn.fn);
        this.createConcurrency(name, cfg, fn.fn, alias);
        const functionUrl = this.createUrl(name, cfg, fn.fn, alias);
        this.createAlarms(name, cfg, fn.fn);

        Object.assign(this, {
            functionName: fn.fn.name,
            functionArn: fn.fn.arn,
            aliasArn: alias.arn,
            packaging: pulumi.output(plan.decision.mode),
            modelBucketName: bucket.name,
            modelDelivery: pulumi.output(modelDelivery),
            modelKey: modelObject ? (modelObject.key as pulumi.Output<string | undefined>) : pulumi.output(undefined as string | undefined),
            modelSha256: pulumi.output(plan.model.sha256),
            imageUri: fn.imageUri,
            roleArn: role.role.arn,
            logGroupName: logGroup.name,
            sizeReport: pulumi.output(report),
            ...(functionUrl ? { url: functionUrl.functionUrl } : {}),
        });
        this.registerOutputs({
            functionName: this.functionName,
            functionArn: this.functionArn,
            aliasArn: this.aliasArn,
            packaging: this.packaging,
            modelBucketName: this.modelBucketName,
            modelDelivery: this.modelDelivery,
            modelKey: this.modelKey,
            imageUri: this.imageUri,
            sizeReport: this.sizeReport,
            ...(this.url ? { url: this.url } : {}),
        });
    }

    /** Encrypted, versioned, private, TLS-only bucket; or the user's existing bucket. */
    private createModelBucket(name: string, cfg: NormalizedArgs): { name: pulumi.Output<string>; arn: pulumi.Output<string>; ready: pulumi.Resource[] } {
        if (cfg.modelBucket) {
            const partition = aws.getPartitionOutput({}, { parent: this });
            return {
                name: pulumi.output(cfg.modelBucket),
                arn: pulumi.interpolate`arn:${partition.partition}:s3:::${cfg.modelBucket}`,
                ready: [],
            };
        }
        const opts = { parent: this, retainOnDelete: cfg.retainData };
        const bucket = new aws.s3.Bucket(`${name}-models`, { forceDestroy: cfg.forceDestroy, tags: cfg.tags }, opts);
        const versioning = new aws.s3.BucketVersioning(`${name}-models-versioning`, {
            bucket: bucket.id,
            versioningConfiguration: { status: "Enabled" },
        }, opts);
        const encryption = new aws.s3.BucketServerSideEncryptionConfiguration(`${name}-models-sse`, {
            bucket: bucket.id,
            rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" }, bucketKeyEnabled: true }],
        }, opts);
        const publicAccess = new aws.s3.BucketPublicAccessBlock(`${name}-models-pab`, {
            bucket: bucket.id,
            blockPublicAcls: true,
            blockPublicPolicy: true,
            ignorePublicAcls: true,
            restrictPublicBuckets: true,
        }, opts);
        const ownership = new aws.s3.BucketOwnershipControls(`${name}-models-ownership`, {
            bucket: bucket.id,
            rule: { objectOwnership: "BucketOwnerEnforced" },
        }, opts);
        const policy = new aws.s3.BucketPolicy(`${name}-models-tls-only`, {
            bucket: bucket.id,
            policy: bucket.arn.apply((arn) => JSON.stringify(iam.denyInsecureTransportPolicy(arn))),
        }, { ...opts, dependsOn: [publicAccess] });
        return { name: bucket.bucket, arn: bucket.arn, ready: [versioning, encryption, publicAccess, ownership, policy] };
    }

    /** Content-addressed: a new model is a new key; retainOnDelete keeps old archives for older function versions. */
    private uploadModel(name: string, cfg: NormalizedArgs, bucket: { name: pulumi.Output<string>; ready: pulumi.Resource[] }, model: PreparedModel) {
        return new aws.s3.BucketObjectv2(`${name}-model`, {
            bucket: bucket.name,
            key: modelObjectKey(model),
            source: new pulumi.asset.FileAsset(model.archive),
            contentType: modelContentType(model),
            checksumAlgorithm: "SHA256",
            tags: cfg.tags,
        }, { parent: this, dependsOn: bucket.ready, retainOnDelete: true });
    }

    private createLogGroup(name: string, cfg: NormalizedArgs) {
        const logGroup = new aws.cloudwatch.LogGroup(`${name}-logs`, {
            name: `/aws/lambda/${cfg.functionName}`,
            retentionInDays: cfg.logRetentionDays,
            tags: cfg.tags,
        }, { parent: this });
        new aws.cloudwatch.QueryDefinition(`${name}-report-query`, {
            name: `ml-lambda/${cfg.functionName}/duration-init-memory`,
            logGroupNames: [logGroup.name],
            queryString: iam.REPORT_QUERY,
        }, { parent: this });
        return logGroup;
    }

    private createRole(name: string, cfg: NormalizedArgs, logGroup: aws.cloudwatch.LogGroup, modelObject?: aws.s3.BucketObjectv2) {
        const role = new aws.iam.Role(`${name}-role`, {
            assumeRolePolicy: JSON.stringify(iam.lambdaAssumeRolePolicy()),
            description: `Execution role of ${cfg.functionName} (pulumi-ml-lambda)`,
            tags: cfg.tags,
        }, { parent: this });
        const policies: aws.iam.RolePolicy[] = [
            new aws.iam.RolePolicy(`${name}-logs`, {
                role: role.id,
                policy: logGroup.arn.apply((arn) => JSON.stringify(iam.logsPolicy(arn))),
            }, { parent: this }),
        ];
        // Only the zip path reads the model from S3; the image has it baked in and gets no S3 access at all.
        if (modelObject) {
            policies.push(new aws.iam.RolePolicy(`${name}-model-read`, {
                role: role.id,
                policy: modelObject.arn.apply((arn) => JSON.stringify(iam.modelReadPolicy(arn))),
            }, { parent: this }));
        }
        return { role, policies };
    }

    private functionBase(cfg: NormalizedArgs, role: { role: aws.iam.Role }, logGroup: aws.cloudwatch.LogGroup, mode: PackagingPath, sizeTags: Record<string, string>) {
        return {
            name: cfg.functionName,
            role: role.role.arn,
            memorySize: cfg.memorySize,
            timeout: cfg.timeout,
            ephemeralStorage: { size: cfg.ephemeralStorage },
            architectures: [cfg.architecture],
            publish: true,
            snapStart: cfg.snapStart ? { applyOn: "PublishedVersions" } : undefined,
            reservedConcurrentExecutions: cfg.reservedConcurrency,
            loggingConfig: {
                logFormat: "JSON",
                logGroup: logGroup.name,
                applicationLogLevel: "INFO",
                // platform.report (duration, init, memory) is logged at INFO: WARN would hide the REPORT records.
                systemLogLevel: "INFO",
            },
            tags: { ...cfg.tags, [TAG_PACKAGING]: mode, ...sizeTags },
        };
    }

    private commonEnvironment(cfg: NormalizedArgs, model: PreparedModel): Record<string, pulumi.Input<string>> {
        return {
            ...cfg.environment,
            MODEL_NAME: model.name,
            MODEL_BACKEND: cfg.backend,
            HF_HUB_OFFLINE: "1",
            POWERTOOLS_SERVICE_NAME: cfg.environment.POWERTOOLS_SERVICE_NAME ?? cfg.functionName,
        };
    }

    /** A zip that may exceed the 50 MB direct-upload limit: such zips go through the model bucket. */
    private zipSource(name: string, kind: string, cfg: NormalizedArgs, bucketName: pulumi.Output<string>, zip: { zipPath: string; bytes: number; sha256: string }, ready: pulumi.Resource[]) {
        if (zip.bytes <= DIRECT_UPLOAD_LIMIT_BYTES) return { code: new pulumi.asset.FileArchive(zip.zipPath) };
        const hex = Buffer.from(zip.sha256, "base64").toString("hex");
        const obj = new aws.s3.BucketObjectv2(`${name}-${kind}-zip`, {
            bucket: bucketName,
            key: `artifacts/${cfg.functionName}/${kind}-${hex}.zip`,
            source: new pulumi.asset.FileAsset(zip.zipPath),
            checksumAlgorithm: "SHA256",
        }, { parent: this, dependsOn: ready, retainOnDelete: true });
        return { s3Bucket: obj.bucket, s3Key: obj.key };
    }

    private createZipFunction(
        name: string, cfg: NormalizedArgs, plan: PackagingPlan,
        bucket: { name: pulumi.Output<string>; ready: pulumi.Resource[] }, modelObject: aws.s3.BucketObjectv2 | undefined,
        role: { role: aws.iam.Role; policies: aws.iam.RolePolicy[] }, logGroup: aws.cloudwatch.LogGroup,
    ) {
        const layerBuild = plan.layer!;
        const code = plan.code;
        const layer = this.layerVersion(name, "deps", cfg, bucket,
            `Python dependencies of ${cfg.functionName}: ${path.basename(cfg.requirements)}, ${layerBuild.measurement.unzippedBytes} bytes unzipped` +
                // The runtime, not the compiler's patch release: another deploy host's 3.12.x must not replace the layer.
                (layerBuild.bytecode ? `, with ${cfg.runtime} bytecode` : ""),
            { zipPath: layerBuild.zipPath, bytes: layerBuild.zipBytes, sha256: layerBuild.zipSha256 });
        const modelLayer = this.createModelLayer(name, cfg, plan, bucket);
        const modelEnvironment: Record<string, pulumi.Input<string>> = modelLayer
            ? { MODEL_DIR: LAYER_MODEL_DIR }
            : { MODEL_BUCKET: bucket.name, MODEL_KEY: modelObject!.key, MODEL_SHA256: plan.model.sha256 };
        const fn = new aws.lambda.Function(name, {
            ...this.functionBase(cfg, role, logGroup, "zip", { [TAG_UNZIPPED_BYTES]: String(plan.decision.totalBytes) }),
            packageType: "Zip",
            runtime: cfg.runtime,
            handler: cfg.handler,
            ...this.zipSource(name, "code", cfg, bucket.name, code, bucket.ready),
            sourceCodeHash: code.sha256,
            // Lambda extracts layers in this order into /opt; ours do not overlap (python/ and ml/model/).
            layers: [layer.arn, ...(modelLayer ? [modelLayer.arn] : []), ...cfg.layers.map((l) => l.arn)],
            environment: {
                variables: {
                    ...this.commonEnvironment(cfg, plan.model),
                    ...modelEnvironment,
                },
            },
        }, { parent: this, dependsOn: [logGroup, ...role.policies] });
        return { fn, imageUri: pulumi.output(undefined as string | undefined) };
    }

    /**
     * The model's own layer (zip path, when the delivery decision put it there): unpacked read-only at /opt/ml/model.
     * Its zip is content-addressed, so a code or dependency change never publishes a new model layer version.
     */
    private createModelLayer(name: string, cfg: NormalizedArgs, plan: PackagingPlan, bucket: { name: pulumi.Output<string>; ready: pulumi.Resource[] }) {
        const m = plan.modelLayer;
        if (!m) return undefined;
        return this.layerVersion(name, "model", cfg, bucket,
            `Model ${plan.model.name} (${cfg.backend}) for ${cfg.functionName} at ${LAYER_MODEL_DIR}: ${m.unzippedBytes} bytes unzipped, archive sha256 ${plan.model.sha256.slice(0, 16)}`,
            { zipPath: m.zipPath, bytes: m.zipBytes, sha256: m.zipSha256 });
    }

    /** A layer version `<name>-<suffix>` of the function's runtime and architecture, from a built zip. */
    private layerVersion(name: string, suffix: string, cfg: NormalizedArgs, bucket: { name: pulumi.Output<string>; ready: pulumi.Resource[] }, description: string,
        zip: { zipPath: string; bytes: number; sha256: string }) {
        return new aws.lambda.LayerVersion(`${name}-${suffix}`, {
            layerName: `${cfg.functionName}-${suffix}`,
            description,
            compatibleRuntimes: [cfg.runtime],
            compatibleArchitectures: [cfg.architecture],
            sourceCodeHash: zip.sha256,
            ...this.zipSource(name, suffix, cfg, bucket.name, zip, bucket.ready),
        }, { parent: this });
    }

    /**
     * ECR repository + image. Plain @pulumi/aws and @pulumi/docker resources rather than awsx.ecr.*: awsx classes
     * are remote components whose children the mock engine and the policy pack never see (scan on push, tag
     * immutability), and docker.Image pushes one single-platform manifest, which is what Lambda accepts.
     */
    private createImageFunction(name: string, cfg: NormalizedArgs, plan: PackagingPlan, role: { role: aws.iam.Role; policies: aws.iam.RolePolicy[] }, logGroup: aws.cloudwatch.LogGroup) {
        const context = plan.context!;
        const repoOpts = { parent: this, retainOnDelete: cfg.retainData };
        const repo = new aws.ecr.Repository(`${name}-repo`, {
            name: cfg.functionName.toLowerCase(),
            imageTagMutability: "IMMUTABLE",
            imageScanningConfiguration: { scanOnPush: true },
            encryptionConfigurations: [{ encryptionType: "AES256" }],
            forceDelete: cfg.forceDestroy,
            tags: cfg.tags,
        }, repoOpts);
        new aws.ecr.LifecyclePolicy(`${name}-repo-lifecycle`, {
            repository: repo.name,
            policy: JSON.stringify(iam.ecrLifecyclePolicy(cfg.imageRetentionCount)),
        }, { parent: this });
        const auth = aws.ecr.getAuthorizationTokenOutput({ registryId: repo.registryId }, { parent: this });
        const image = new docker.Image(`${name}-image`, {
            // Tag = hash of the staged context: immutable tags never collide, unchanged contexts are not rebuilt.
            imageName: pulumi.interpolate`${repo.repositoryUrl}:${context.hash.slice(0, 20)}`,
            build: {
                context: context.dir,
                dockerfile: context.dockerfile,
                platform: imagePlatform(cfg),
                builderVersion: "BuilderBuildKit",
                args: imageBuildArgs(cfg),
                // An engine without a bridge network (dockerd --bridge=none) runs RUN steps only with the host's;
                // the plan's measurement found out which.
                network: plan.image?.network,
            },
            registry: {
                server: repo.repositoryUrl,
                username: auth.userName,
                password: pulumi.secret(auth.password),
            },
        }, { parent: this });
        const imageUri = image.repoDigest; // repo@sha256:...: the function never follows a mutable tag
        const fn = new aws.lambda.Function(name, {
            // The image's own size when it was measured; never the zip path's unzipped figure.
            ...this.functionBase(cfg, role, logGroup, "image", plan.image ? { [TAG_IMAGE_BYTES]: String(plan.image.uncompressedBytes) } : {}),
            packageType: "Image",
            imageUri,
            // The Dockerfile's CMD names the bundled handler; a different handler overrides it here.
            imageConfig: cfg.handler === DEFAULT_HANDLER ? undefined : { commands: [cfg.handler] },
            environment: {
                variables: {
                    ...this.commonEnvironment(cfg, plan.model),
                    MODEL_DIR: IMAGE_MODEL_DIR,
                },
            },
        }, { parent: this, dependsOn: [logGroup, ...role.policies] });
        return { fn, imageUri: imageUri as pulumi.Output<string | undefined> };
    }

    private createAlias(name: string, fn: aws.lambda.Function) {
        return new aws.lambda.Alias(`${name}-live`, {
            name: "live",
            functionName: fn.name,
            functionVersion: fn.version,
            description: "the published version serving traffic",
        }, { parent: this });
    }

    /**
     * A function URL on the `live` alias: it serves the published version, never $LATEST. With auth type NONE the
     * function's resource-based policy must let anyone invoke through the URL. AWS's access-control page for
     * function URLs (https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html) says that since October 2025 new
     * function URLs require both lambda:InvokeFunctionUrl and lambda:InvokeFunction; the InvokeFunction grant is
     * limited to calls made through a URL (AddPermission's InvokedViaFunctionUrl, the lambda:InvokedViaFunctionUrl
     * condition), so a public URL does not open the Invoke API to everyone.
     *
     * The upstream provider (terraform-provider-aws's aws_lambda_function_url) adds the same two statements, as
     * "FunctionURLAllowPublicAccess" and "FunctionURLAllowInvokeAction", when it *creates* a NONE URL, tolerating
     * ones that already exist; it neither adds them when an existing URL is switched to NONE nor removes them on
     * delete. So the component owns them under those statement ids and creates them first: switching to NONE works,
     * and switching back to AWS_IAM (or removing the URL) removes the public grants instead of leaving them behind.
     * AWS_IAM needs no resource-based statement for callers in the same account (their identity policy grants it).
     */
    private createUrl(name: string, cfg: NormalizedArgs, fn: aws.lambda.Function, alias: aws.lambda.Alias): aws.lambda.FunctionUrl | undefined {
        const u = cfg.url;
        if (!u) return undefined;
        const grants = u.authType === "NONE"
            ? [
                new aws.lambda.Permission(`${name}-url-public`, {
                    function: fn.name,
                    qualifier: alias.name,
                    statementId: "FunctionURLAllowPublicAccess",
                    action: "lambda:InvokeFunctionUrl",
                    principal: "*",
                    functionUrlAuthType: "NONE",
                }, { parent: this }),
                new aws.lambda.Permission(`${name}-url-invoke`, {
                    function: fn.name,
                    qualifier: alias.name,
                    statementId: "FunctionURLAllowInvokeAction",
                    action: "lambda:InvokeFunction",
                    principal: "*",
                    invokedViaFunctionUrl: true,
                }, { parent: this }),
            ]
            : [];
        return new aws.lambda.FunctionUrl(`${name}-url`, {
            functionName: fn.name,
            qualifier: alias.name,
            authorizationType: u.authType,
            invokeMode: u.invokeMode,
            cors: u.cors,
        }, { parent: this, dependsOn: grants });
    }

    /** Static provisioned concurrency, or Application Auto Scaling on the alias: never both. */
    private createConcurrency(name: string, cfg: NormalizedArgs, fn: aws.lambda.Function, alias: aws.lambda.Alias) {
        const p = cfg.provisioned;
        if (p.kind === "static") {
            new aws.lambda.ProvisionedConcurrencyConfig(`${name}-provisioned`, {
                functionName: fn.name,
                qualifier: alias.name,
                provisionedConcurrentExecutions: p.count,
            }, { parent: this });
        } else if (p.kind === "autoscaling") {
            const target = new aws.appautoscaling.Target(`${name}-pc-target`, {
                serviceNamespace: "lambda",
                scalableDimension: "lambda:function:ProvisionedConcurrency",
                resourceId: pulumi.interpolate`function:${fn.name}:${alias.name}`,
                minCapacity: p.min,
                maxCapacity: p.max,
            }, { parent: this });
            new aws.appautoscaling.Policy(`${name}-pc-policy`, {
                policyType: "TargetTrackingScaling",
                serviceNamespace: target.serviceNamespace,
                scalableDimension: target.scalableDimension,
                resourceId: target.resourceId,
                targetTrackingScalingPolicyConfiguration: {
                    targetValue: p.targetUtilization,
                    predefinedMetricSpecification: { predefinedMetricType: "LambdaProvisionedConcurrencyUtilization" },
                },
            }, { parent: this });
        }
    }

    private createAlarms(name: string, cfg: NormalizedArgs, fn: aws.lambda.Function) {
        const common = {
            namespace: "AWS/Lambda",
            dimensions: { FunctionName: fn.name },
            period: 300,
            evaluationPeriods: 1,
            treatMissingData: "notBreaching",
            alarmActions: cfg.alarmActions,
            okActions: cfg.alarmActions,
            tags: cfg.tags,
        };
        new aws.cloudwatch.MetricAlarm(`${name}-errors`, {
            ...common,
            alarmDescription: `${cfg.functionName}: invocations ended in an error`,
            metricName: "Errors",
            statistic: "Sum",
            comparisonOperator: "GreaterThanOrEqualToThreshold",
            threshold: 1,
        }, { parent: this });
        new aws.cloudwatch.MetricAlarm(`${name}-throttles`, {
            ...common,
            alarmDescription: `${cfg.functionName}: invocations were throttled (concurrency exhausted)`,
            metricName: "Throttles",
            statistic: "Sum",
            comparisonOperator: "GreaterThanOrEqualToThreshold",
            threshold: 1,
        }, { parent: this });
        new aws.cloudwatch.MetricAlarm(`${name}-p99-duration`, {
            ...common,
            alarmDescription: `${cfg.functionName}: p99 duration above 80 % of the ${cfg.timeout}s timeout`,
            metricName: "Duration",
            extendedStatistic: "p99",
            comparisonOperator: "GreaterThanThreshold",
            threshold: cfg.timeout * 1000 * 0.8,
            evaluationPeriods: 3,
        }, { parent: this });
    }
}

function awsVersion(): string {
    try {
        return require("@pulumi/aws/package.json").version;
    } catch {
        return "unknown version";
    }
}

/**
 * Whether the plan builds and measures the image now: on `pulumi up` against a real engine, not in previews and not
 * under Pulumi's mock engine (tests, the offline plan), where no image is built. ML_LAMBDA_MEASURE_IMAGE=1 / 0
 * forces it either way (1: a preview that shows the image's real size when Docker is at hand).
 */
export function measureImageNow(env: NodeJS.ProcessEnv = process.env): boolean {
    if (env.ML_LAMBDA_MEASURE_IMAGE === "1") return true;
    if (env.ML_LAMBDA_MEASURE_IMAGE === "0") return false;
    return !pulumi.runtime.isDryRun() && !(pulumi.runtime.getMonitor() instanceof MockMonitor);
}
