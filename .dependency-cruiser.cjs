/**
 * The layers of lib/, checked by `npm run lint` (docs/architecture.md draws them). Each folder
 * imports only the folders below it:
 *
 *   lib/*.ts (index, middleware, prometheus, otel, version)
 *     -> ops/, config/   (never each other)
 *     -> cluster/
 *     -> client/, server/ (never each other)
 *     -> protocol/ -> cache/ -> ring/ -> common/
 *
 * Type-only imports count (tsPreCompilationDeps), for the layers and for cycles alike. TypeScript 7
 * has no compiler API for dependency-cruiser to parse with, so it parses with swc; the rule
 * `resolvable` fails the lint should an import stop being found, so that a parser or resolver
 * that sees nothing cannot pass for a clean graph.
 */

/** The lib/ folders each folder may import, besides its own. */
const MAY_IMPORT = {
  ops: ['cluster', 'client', 'server', 'protocol', 'cache', 'ring', 'common'],
  config: ['cluster', 'client', 'server', 'protocol', 'cache', 'ring', 'common'],
  cluster: ['client', 'server', 'protocol', 'cache', 'ring', 'common'],
  client: ['protocol', 'cache', 'ring', 'common'],
  server: ['protocol', 'cache', 'ring', 'common'],
  protocol: ['cache', 'ring', 'common'],
  cache: ['ring', 'common'],
  ring: ['common'],
  common: [],
};

const layerRules = Object.entries(MAY_IMPORT).map(([folder, allowed]) => ({
  name: `layer-${folder}`,
  comment: `lib/${folder}/ may import only ${allowed.length ? allowed.map((f) => `${f}/`).join(', ') : 'node: and npm modules'} (docs/architecture.md)`,
  severity: 'error',
  from: { path: `^lib/${folder}/` },
  to: { path: `^lib/(?!(${[folder, ...allowed].join('|')})/)` },
}));

module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: 'root-on-top',
      comment: 'lib/*.ts (index, middleware, prometheus, otel, version) are the top: no folder imports them',
      severity: 'error',
      from: { path: '^lib/[^/]+/' },
      to: { path: '^lib/[^/]+\\.ts$' },
    },
    {
      name: 'no-circular',
      comment: 'no import cycle, type-only imports included',
      severity: 'error',
      from: { path: '^lib/' },
      to: { circular: true },
    },
    {
      name: 'resolvable',
      comment: 'every import resolves (a graph that lost its edges would pass every rule above)',
      severity: 'error',
      from: { path: '^lib/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    parser: 'swc',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules)/' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'], extensions: ['.ts', '.js'] },
  },
};
