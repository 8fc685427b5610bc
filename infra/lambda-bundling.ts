import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Architecture } from 'aws-cdk-lib/aws-lambda';
import { LogLevel, OutputFormat, type BundlingOptions, type ICommandHooks } from 'aws-cdk-lib/aws-lambda-nodejs';

/** The checkout: functions/ holds the entries, package-lock.json pins what is bundled. */
export const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * Why the publisher is x86_64 and carry DuckDB as copied files:
 *
 * DuckDB is a native library (@duckdb/node-bindings-<os>-<cpu>/duckdb.node + libduckdb.so) that esbuild
 * cannot bundle, so `@duckdb/node-api` stays external and has to be in the asset's node_modules/.
 * `bundling.nodeModules` would do that with `npm ci` inside the asset folder during synth, which
 * (measured here) fails with this lock file whatever the network: the lock records only the linux-x64
 * bindings, so npm ci refuses it as out of sync; with a complete lock it would still download from the
 * registry at every synth. Docker bundling is not available either. What works offline is copying the
 * packages npm already installed (exactly the lock file's versions) from node_modules/ into the asset
 * after esbuild ran. The installed binding is linux-x64, so the publisher runs on x86_64; the
 * API functions are plain JavaScript and run on arm64.
 */
export const PUBLISH_ARCHITECTURE = Architecture.X86_64;
const DUCKDB_ENTRY = '@duckdb/node-api';
const DUCKDB_BINDING = '@duckdb/node-bindings-linux-x64';

/** The installed packages `start` needs at run time (dependencies, followed transitively). */
function installedClosure(root: string, start: readonly string[]): string[] {
  const found = new Set<string>();
  const todo = [...start];
  while (todo.length > 0) {
    const name = todo.pop()!;
    if (found.has(name)) continue;
    const manifest = join(root, 'node_modules', name, 'package.json');
    if (!existsSync(manifest)) {
      throw new Error(
        `infra: ${name} is not installed in node_modules/, and the publisher needs it; run \`npm ci\` on linux-x64, ` +
          `or add the binding with \`npm install --no-save --os=linux --cpu=x64 --libc=glibc ${DUCKDB_BINDING}\``,
      );
    }
    found.add(name);
    const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as { dependencies?: Record<string, string> };
    // A dependency nested under its parent's own node_modules/ travels with the parent's folder.
    for (const dep of Object.keys(pkg.dependencies ?? {})) if (!existsSync(join(root, 'node_modules', name, 'node_modules', dep))) todo.push(dep);
  }
  return [...found].sort();
}

function copyInstalledPackages(packages: readonly string[]): ICommandHooks {
  return {
    beforeBundling: () => [],
    beforeInstall: () => [],
    afterBundling: (inputDir, outputDir) =>
      packages.map((p) => `mkdir -p "${join(outputDir, 'node_modules', dirname(p))}" && cp -R "${join(inputDir, 'node_modules', p)}" "${join(outputDir, 'node_modules', p)}"`),
  };
}

// ESM bundles have no `require`; bundled CommonJS code (and DuckDB's loader of its .node file) needs one.
const REQUIRE_BANNER = "import { createRequire as __ledgerCreateRequire } from 'node:module'; const require = __ledgerCreateRequire(import.meta.url);";

const common: BundlingOptions = {
  format: OutputFormat.ESM,
  target: 'node22',
  mainFields: ['module', 'main'],
  banner: REQUIRE_BANNER,
  minify: true,
  sourceMap: true,
  sourcesContent: false,
  // The AWS SDK is bundled too: what runs is what package-lock.json pins and the tests ran, not
  // whichever SDK version the Lambda runtime carries that day.
  externalModules: [],
  logLevel: LogLevel.WARNING,
};

/**
 * API handlers and the authorizer. storage/adapters.ts imports the DuckDB Parquet writer for every
 * entry point, but only publishing calls it; here `@duckdb/node-api` resolves to a stand-in that
 * fails if it is ever called, so these functions stay small, native-free and arm64. `zod` resolves to
 * its own modules without the namespaces that carry every locale (infra/zod-without-locales/: about
 * 258 KiB of each bundle, which esbuild cannot tree-shake; the error messages are zod's English ones
 * either way).
 */
export function apiBundling(): BundlingOptions {
  return {
    ...common,
    esbuildArgs: {
      '--alias': [`${DUCKDB_ENTRY}=${join(PROJECT_ROOT, 'infra', 'duckdb-unavailable.ts')}`, `zod=${ZOD_WITHOUT_LOCALES}`],
    },
  };
}

/** The entry `zod` resolves to in the API bundles. */
export const ZOD_WITHOUT_LOCALES = join(PROJECT_ROOT, 'infra', 'zod-without-locales', 'index.js');

/** The publisher: DuckDB external, and its installed packages copied beside the bundle. */
export function publishBundling(): BundlingOptions {
  return { ...common, externalModules: [DUCKDB_ENTRY], commandHooks: copyInstalledPackages(installedClosure(PROJECT_ROOT, [DUCKDB_ENTRY, DUCKDB_BINDING])) };
}
