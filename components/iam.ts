/**
 * Policy documents as pure functions of resolved names, so tests can assert them exactly.
 * Least privilege: no "*" actions, no bucket-wide reads, logs only to the function's own group.
 */
export interface PolicyDocument {
    Version: "2012-10-17";
    Statement: Array<Record<string, unknown>>;
}

export function lambdaAssumeRolePolicy(): PolicyDocument {
    return {
        Version: "2012-10-17",
        Statement: [{ Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" }],
    };
}

/** What AWSLambdaBasicExecutionRole grants, narrowed to the one log group (the managed policy allows Resource "*"). */
export function logsPolicy(logGroupArn: string): PolicyDocument {
    return {
        Version: "2012-10-17",
        Statement: [{
            Sid: "WriteOwnLogs",
            Effect: "Allow",
            Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
            Resource: `${logGroupArn}:*`,
        }],
    };
}

/** Read of exactly one object: the content-addressed model archive. */
export function modelReadPolicy(modelObjectArn: string): PolicyDocument {
    return {
        Version: "2012-10-17",
        Statement: [{ Sid: "ReadModelArchive", Effect: "Allow", Action: "s3:GetObject", Resource: modelObjectArn }],
    };
}

/** Denies every request to the bucket that is not over TLS. */
export function denyInsecureTransportPolicy(bucketArn: string): PolicyDocument {
    return {
        Version: "2012-10-17",
        Statement: [{
            Sid: "DenyInsecureTransport",
            Effect: "Deny",
            Principal: "*",
            Action: "s3:*",
            Resource: [bucketArn, `${bucketArn}/*`],
            Condition: { Bool: { "aws:SecureTransport": "false" } },
        }],
    };
}

/** ECR lifecycle: keep the newest `count` images. */
export function ecrLifecyclePolicy(count: number) {
    return {
        rules: [{
            rulePriority: 1,
            description: `keep the last ${count} images`,
            selection: { tagStatus: "any", countType: "imageCountMoreThan", countNumber: count },
            action: { type: "expire" },
        }],
    };
}

/** The seed guide's CloudWatch Insights query, written for Lambda's JSON log format (platform.report records). */
export const REPORT_QUERY = [
    'filter type = "platform.report"',
    "| stats avg(record.metrics.durationMs) as avgDurationMs, max(record.metrics.durationMs) as maxDurationMs,",
    "        avg(record.metrics.initDurationMs) as avgInitMs, avg(record.metrics.maxMemoryUsedMB) as avgMaxMemoryMB,",
    "        max(record.metrics.maxMemoryUsedMB) as maxMemoryMB by bin(5m)",
].join("\n");

/**
 * Whether this @pulumi/aws's Permission passes `invokedViaFunctionUrl` to the provider. The generated class copies
 * only the inputs it knows: one that predates the input would drop it silently, and the public
 * lambda:InvokeFunction grant of a NONE function URL would then open the Invoke API itself to everyone.
 */
export function permissionScopesToFunctionUrls(permissionClass: { toString(): string }): boolean {
    return /resourceInputs\s*\[\s*["']invokedViaFunctionUrl["']\s*\]\s*=\s*args/.test(permissionClass.toString());
}
