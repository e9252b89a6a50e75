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
export { buildLayer, lookupLayer, normalizeScripts } from "./layer";
export type { LayerBuild, LayerBuildOptions } from "./layer";
export { layerKey, BUILDER_VERSION } from "./layerCache";
export { INSTALLERS, PIP, UV, PIP_VERSION, UV_VERSION, defaultInstaller, installerNamed, toolsVenv, platformTags, pipArch, uvPlatform, pipInstallArgs, pipErrorLines, parseMissing, uvInstallArgs, uvErrorLines, parseUvMissing } from "./installers";
export type { Installer, InstallerName, ParsedMissing } from "./installers";
export { formatSizeTable } from "./report";
export { dependencyWeights, heaviest } from "./deps";
export type { DependencyWeight } from "./deps";
export { SLIM_RULES, slimTree, slimRuleFor, importedTestModules } from "./slim";
export type { SlimResult, SlimRule, SlimStat } from "./slim";
export { readRequirements, requirementName, normalizeName } from "./requirements";
export { pinnedRequirements, uvExportArgs, uvLockCheckArgs, uvLockArgs, classifyLockCheck, lockRegistries, localPackages, pinnedLines, lockRequiresPython, pythonSatisfies, uvPythonCandidates, EXPORT_SCOPE } from "./lock";
export type { PinnedRequirements, LockCheck } from "./lock";
export { writeZip, readZipEntries, readZipEntryData } from "./zip";
export { buildSource, sourceDigest } from "./tree";
export type { BuildSource } from "./tree";
export type { ZipEntry, ZipSource } from "./zip";
