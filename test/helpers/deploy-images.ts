// Image-test plumbing. This machine reaches no image registry and build containers reach no package
// registry, so:
//  - the base image is made here: a `docker import`ed rootfs holding this machine's node + npm, the
//    shared libraries `ldd` lists, and busybox (sh, env, ...), cached by content hash;
//  - npm inside the build is fed from an offline cache: the tarballs package-lock.json names, copied
//    by integrity out of the machine's npm cache into the build context (.npm-offline-cache/), with
//    NPM_OFFLINE=true. The Dockerfiles stay as users run them.
import { createHash } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, symlinkSync, writeFileSync, copyFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const repoRoot = path.resolve(import.meta.dirname, '../..');

export function docker(args: string[], opts: { input?: string | Buffer; timeoutMs?: number; allowFail?: boolean } = {}): string {
  const r = spawnSync('docker', args, { input: opts.input, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: opts.timeoutMs ?? 600_000 });
  if (r.status !== 0 && !opts.allowFail) {
    throw new Error(`docker ${args.slice(0, 3).join(' ')} failed (${r.status ?? r.signal}): ${(r.stderr || r.stdout || String(r.error ?? '')).slice(-3000)}`);
  }
  return (r.stdout ?? '').trim();
}

const imageExists = (ref: string): boolean => spawnSync('docker', ['image', 'inspect', ref], { stdio: 'ignore' }).status === 0;

/** Files (with symlink targets) that make node + npm run in an empty rootfs. */
function baseFiles(): { files: string[]; npmDir: string; nodeBin: string } {
  const nodeBin = realpathSync(execFileSync('sh', ['-c', 'command -v node'], { encoding: 'utf8' }).trim());
  const npmDir = path.dirname(path.dirname(realpathSync(execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim())));
  const libs = execFileSync('ldd', [nodeBin], { encoding: 'utf8' }).split('\n')
    .map((l) => /(\/\S+) \(0x/.exec(l)?.[1]).filter((x): x is string => !!x);
  return { files: [nodeBin, ...libs], npmDir, nodeBin };
}

/** dockwatch-test/node-base:<hash>, made once per node/npm/busybox/libc combination. */
export function ensureNodeBaseImage(): string {
  const { files, npmDir, nodeBin } = baseFiles();
  const busybox = '/bin/busybox';
  const h = createHash('sha256').update('rootfs-v2');
  for (const f of [...files, busybox, path.join(npmDir, 'package.json')]) h.update(f).update(readFileSync(f));
  const tag = `dockwatch-test/node-base:${h.digest('hex').slice(0, 16)}`;
  if (imageExists(tag)) return tag;

  const rootfs = mkdtempSync(path.join(os.tmpdir(), 'dockwatch-rootfs-'));
  try {
    for (const d of ['bin', 'usr/bin', 'usr/lib', 'etc', 'tmp', 'root', 'lib64', 'lib/x86_64-linux-gnu']) mkdirSync(path.join(rootfs, d), { recursive: true });
    for (const f of files) {
      // Keep each library at the path the dynamic loader asks for (and the real file behind links).
      for (const p of new Set([f, realpathSync(f)])) {
        mkdirSync(path.join(rootfs, path.dirname(p)), { recursive: true });
        copyFileSync(realpathSync(f), path.join(rootfs, p));
      }
    }
    if (nodeBin !== '/usr/bin/node') symlinkSync(nodeBin, path.join(rootfs, 'usr/bin/node'));
    copyFileSync(busybox, path.join(rootfs, 'bin/busybox'));
    for (const app of execFileSync(busybox, ['--list'], { encoding: 'utf8' }).split('\n').filter(Boolean)) {
      if (!existsSync(path.join(rootfs, 'bin', app))) symlinkSync('busybox', path.join(rootfs, 'bin', app));
    }
    symlinkSync('/bin/env', path.join(rootfs, 'usr/bin/env'));
    cpSync(npmDir, path.join(rootfs, 'usr/lib/node_modules/npm'), { recursive: true, dereference: true });
    symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', path.join(rootfs, 'usr/bin/npm'));
    symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', path.join(rootfs, 'usr/bin/npx'));
    writeFileSync(path.join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnode:x:10001:10001::/tmp:/bin/sh\n');
    writeFileSync(path.join(rootfs, 'etc/group'), 'root:x:0:\nnode:x:10001:\n');
    execFileSync('chmod', ['0755', rootfs]); // mkdtemp made it 0700: the non-root user could not enter /
    execFileSync('chmod', ['1777', path.join(rootfs, 'tmp')]);
    const tar = execFileSync('tar', ['-C', rootfs, '-c', '.'], { maxBuffer: 1024 * 1024 * 1024 });
    docker(['import', '--change', 'ENV PATH=/usr/local/bin:/usr/bin:/bin', '--change', 'CMD ["node"]', '-', tag], { input: tar });
  } finally {
    rmSync(rootfs, { recursive: true, force: true });
  }
  return tag;
}

function contentPath(cacheDir: string, integrity: string): string {
  const [algo, b64] = integrity.split(' ')[0]!.split(/-(.*)/s) as [string, string];
  const hex = Buffer.from(b64, 'base64').toString('hex');
  return path.join(cacheDir, '_cacache', 'content-v2', algo, hex.slice(0, 2), hex.slice(2, 4), hex.slice(4));
}

/**
 * A build context holding what .dockerignore lets through plus .npm-offline-cache/ with every tarball
 * package-lock.json names (npm finds tarballs by integrity, so content files suffice).
 * Returns the context dir; missing tarballs are fetched into it with `npm cache add` (the npm registry is
 * reachable from this host, just not from build containers).
 */
export function prepareBuildContext(): { dir: string; missingFetched: number } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dockwatch-ctx-'));
  for (const f of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', '.dockerignore', 'Dockerfile.server', 'Dockerfile.agent']) {
    copyFileSync(path.join(repoRoot, f), path.join(dir, f));
  }
  for (const d of ['proto', 'src', 'web']) cpSync(path.join(repoRoot, d), path.join(dir, d), { recursive: true });
  const cache = path.join(dir, '.npm-offline-cache');
  const home = execFileSync('npm', ['config', 'get', 'cache'], { encoding: 'utf8', cwd: repoRoot }).trim();
  const lock = JSON.parse(readFileSync(path.join(repoRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, { name?: string; integrity?: string; resolved?: string; version?: string; link?: boolean; optional?: boolean; os?: string[]; cpu?: string[] }> };
  // This machine's npm config omits `resolved` from lockfiles (omit-lockfile-registry-resolved); without it
  // npm must ask the registry where a tarball lives. The context's copy gets the registry URLs back (same
  // integrity, so the same bytes), which lets `npm ci --offline` take tarballs from the cache alone.
  for (const [key, p] of Object.entries(lock.packages)) {
    if (!key || p.link || !p.integrity || p.resolved || !p.version) continue;
    const name = p.name ?? key.slice(key.lastIndexOf('node_modules/') + 'node_modules/'.length);
    p.resolved = `https://registry.npmjs.org/${name}/-/${name.split('/').pop()}-${p.version}.tgz`;
  }
  writeFileSync(path.join(dir, 'package-lock.json'), JSON.stringify(lock, null, 2));
  let missingFetched = 0;
  for (const [key, p] of Object.entries(lock.packages)) {
    if (!key || !p.integrity || !p.resolved) continue;
    // npm skips optional packages built for other platforms (esbuild's per-OS binaries): no tarball needed.
    if (p.optional && ((p.os && !p.os.includes(process.platform)) || (p.cpu && !p.cpu.includes(process.arch)))) continue;
    const from = contentPath(home, p.integrity);
    const to = contentPath(cache, p.integrity);
    if (existsSync(to)) continue;
    mkdirSync(path.dirname(to), { recursive: true });
    if (existsSync(from)) {
      copyFileSync(from, to);
    } else {
      execFileSync('npm', ['cache', 'add', p.resolved, '--cache', cache], { stdio: 'pipe', cwd: dir });
      missingFetched++;
    }
  }
  return { dir, missingFetched };
}

export function buildImage(contextDir: string, dockerfile: string, tag: string, baseImage: string): void {
  docker(['build', '--quiet', '-f', path.join(contextDir, dockerfile), '--build-arg', `BASE_IMAGE=${baseImage}`,
    '--build-arg', 'NPM_OFFLINE=true', '--label', 'dockwatch.test=1', '-t', tag, contextDir], { timeoutMs: 1_200_000 });
}
