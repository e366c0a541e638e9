// Preload for `node --import`: appends every module the process loads (resolved ES module URLs,
// and every CommonJS file, including the requires inside CommonJS packages) to the file named
// by RECORD_MODULES_FILE, one per line. Used by test/integration/cli-agent-modules.test.ts.
import { appendFileSync } from 'node:fs';
import Module, { register } from 'node:module';

const out = process.env.RECORD_MODULES_FILE;
if (out) {
  // ES modules: a resolve hook (it runs on the loader thread; it sees import and import()).
  register('./record-modules-hooks.mjs', import.meta.url, { data: { out } });
  // CommonJS: every require() ends in Module._load, whether it came from an ES import or a package.
  const load = Module._load;
  Module._load = function recordLoad(request, parent, isMain) {
    try {
      appendFileSync(out, `cjs ${Module._resolveFilename(request, parent, isMain)}\n`);
    } catch {
      appendFileSync(out, `cjs? ${request}\n`);
    }
    return load.apply(this, arguments);
  };
}
