/**
 * The layers of modelhub (docs/architecture.md): each folder may import only the layers below it, so
 * that the architecture stays visible and a change low down never needs the server. The rule
 * resolves every relative import (static, `export … from`, `import()`, `typeof import()`) against
 * the importing file and fails on one that points up or sideways.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.dirname(fileURLToPath(import.meta.url));

/** First match wins: a path prefix (relative to the repository root) and its layer. */
const LAYERS = [
  ['schemas/', 'kernel'],
  ['servables/', 'runtimes'],
  ['builder/', 'builder'],
  ['hub-server/use-cases/', 'use-cases'],
  ['hub-server/adapters/', 'adapters'],
  ['hub-server/cli/', 'cli'],
  ['hub-server/cli.ts', 'cli'],
  ['hub-server/', 'server'],
  ['sdk/', 'sdk'],
  ['bin/', 'cli'],
];

/** What each layer may import (besides itself). Layers not listed here (test/, bench/) may import anything. */
const ALLOWED = {
  kernel: [],
  runtimes: ['kernel'],
  builder: ['kernel', 'runtimes'],
  adapters: ['kernel'],
  'use-cases': ['kernel', 'runtimes', 'builder'],
  server: ['kernel', 'runtimes', 'builder', 'use-cases', 'adapters'],
  sdk: ['kernel'],
  cli: ['kernel', 'runtimes', 'builder', 'use-cases', 'adapters', 'server', 'sdk'],
};

/**
 * The SDK describes a model from a file with the runtime's own inspection, loaded only when a caller
 * asks (`await import()`; type-only imports load nothing), so that `import 'modelhub'` loads no
 * native runtime.
 */
const LAZY_ALLOWED = { sdk: ['runtimes'] };

function layerOf(file) {
  const relative = path.relative(ROOT, file).split(path.sep).join('/');
  if (relative.startsWith('..')) return undefined;
  return LAYERS.find(([prefix]) => relative === prefix || relative.startsWith(prefix))?.[1];
}

export const layersRule = {
  meta: {
    type: 'problem',
    docs: { description: 'imports point only down the layers (docs/architecture.md)' },
    schema: [],
  },
  create(context) {
    const file = context.filename;
    const from = layerOf(file);
    if (!from || !(from in ALLOWED)) return {};
    const check = (node, source, lazy) => {
      if (!source || source.type !== 'Literal' || typeof source.value !== 'string') return;
      const specifier = source.value;
      if (!specifier.startsWith('.')) return;
      const to = layerOf(path.resolve(path.dirname(file), specifier));
      if (!to || to === from || ALLOWED[from].includes(to)) return;
      if (lazy && (LAZY_ALLOWED[from] ?? []).includes(to)) return;
      context.report({
        node,
        message: `${from} may not import ${to} ('${specifier}'): layers only point down (docs/architecture.md)`,
      });
    };
    return {
      ImportDeclaration: (node) => check(node, node.source, node.importKind === 'type'),
      ExportNamedDeclaration: (node) => check(node, node.source, false),
      ExportAllDeclaration: (node) => check(node, node.source, false),
      ImportExpression: (node) => check(node, node.source, true),
      TSImportType: (node) => check(node, node.argument?.literal ?? node.argument, true),
    };
  },
};
