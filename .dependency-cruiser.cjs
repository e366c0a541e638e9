/** Imports point inward: infrastructure -> application -> domain. Composition roots may import anything. */
module.exports = {
  forbidden: [
    {
      name: 'domain-is-pure',
      comment: 'src/domain imports nothing but other domain files: no node builtins, no npm packages.',
      severity: 'error',
      from: { path: '^src/domain/' },
      to: { pathNot: '^src/domain/' },
    },
    {
      name: 'application-inward-only',
      comment: 'src/application may import the domain and itself, never infrastructure, config or the roots.',
      severity: 'error',
      from: { path: '^src/application/' },
      to: { path: '^src/(infrastructure|config|agent|server|cli)' },
    },
    {
      name: 'application-no-io',
      comment: 'Use cases reach I/O through ports, not through node builtins.',
      severity: 'error',
      from: { path: '^src/application/' },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'adapters-do-not-import-roots',
      severity: 'error',
      from: { path: '^src/infrastructure/' },
      to: { path: '^src/(agent|server|cli)' },
    },
    {
      name: 'adapters-are-independent',
      comment: 'One adapter does not reach into another; the composition root connects them.',
      severity: 'error',
      from: { path: '^src/infrastructure/([^/]+)/' },
      to: { path: '^src/infrastructure/', pathNot: ['^src/infrastructure/$1/', '^src/infrastructure/shared/'] },
    },
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
