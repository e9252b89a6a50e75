#!/usr/bin/env node
/**
 * The `ml-lambda` command (package.json "bin"). From an npm install it runs the compiled CLI, dist/cli/main.js. From
 * a clone of the repository, where dist/ exists only after `npm run build` (and may be stale), it runs the TypeScript
 * sources through ts-node, a devDependency, exactly as `npm run ml-lambda --` does: so `npx ml-lambda ...` answers
 * right after `npm ci`, with no build step on install.
 */
"use strict";
const fs = require("fs");
const path = require("path");

const root = path.join(__dirname, "..");
const source = path.join(root, "cli", "main.ts");
let cli;
if (fs.existsSync(source)) {
    require("ts-node").register({ transpileOnly: true, project: path.join(root, "tsconfig.json") });
    cli = require(source);
} else {
    cli = require(path.join(root, "dist", "cli", "main.js"));
}
cli.runMain(process.argv.slice(2));
