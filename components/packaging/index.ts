/**
 * Measured packaging: build dependencies for the Lambda platform, measure what Lambda counts, decide zip or image.
 * Everything here is synchronous and free of Pulumi, so the component can call it before registering resources and
 * tests can call it without mocks.
 */
export { measureDir, measureZip, summarize, parseRecord } from "./measure";
export type { Measurement, PackageSize } from "./measure";
export { zipDirectory } from "./archive";
export type { ZipDirectoryOptions, ZipDirectoryResult } from "./archive";
export { decide, formatBytes } from "./decide";
export type { DecideInput, Decision, MissingWheel } from "./decide";
export { buildLayer, lookupLayer, normalizeScripts, layerKey, defaultInstaller, uvInstallArgs, uvPlatform, parseUvMissing, uvErrorLines, pipInstallArgs, platformTags, pipArch, parseMissing, pipErrorLines, BUILDER_VERSION } from "./layer";
export type { Installer, LayerBuild, LayerBuildOptions, ParsedMissing } from "./layer";
export { formatSizeTable } from "./report";
export { dependencyWeights, heaviest } from "./deps";
export type { DependencyWeight } from "./deps";
export { defaultCacheDir } from "./cache";
export { SLIM_RULES, slimTree, slimRuleFor, importedTestModules } from "./slim";
export type { SlimResult, SlimRule, SlimStat } from "./slim";
export { readRequirements, requirementName, normalizeName } from "./requirements";
export { PIP_VERSION, UV_VERSION, ensureTools } from "./tools";
export { writeZip, readZipEntries, readZipEntryData } from "./zip";
export type { ZipEntry, ZipSource } from "./zip";
