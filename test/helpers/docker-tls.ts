// A real dockerd with --tlsverify on 127.0.0.1, with certificates made here by openssl: a CA, a
// server certificate for IP:127.0.0.1 and DNS:localhost, a client certificate, and a second CA
// that signed nothing the daemon knows (the "wrong CA" case). The daemon has its own data-root,
// exec-root (so its own managed containerd), pidfile and TCP port; it never touches the suite's.
// The test image is copied over from the suite's engine with `docker save | docker load`.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './wait.js';

const run = promisify(execFile);

export interface TlsCerts {
  dir: string;
  /** DOCKER_CERT_PATH for a client the daemon accepts: ca.pem, cert.pem, key.pem. */
  clientDir: string;
  /** Same client certificate, but ca.pem is another CA: the daemon's certificate does not chain to it. */
  wrongCaDir: string;
  server: { ca: string; cert: string; key: string };
}

async function openssl(cwd: string, ...args: string[]): Promise<void> {
  await run('openssl', args, { cwd });
}

export async function makeTlsCerts(dir: string): Promise<TlsCerts> {
  mkdirSync(dir, { recursive: true });
  const ca = async (name: string) => {
    await openssl(dir, 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}-key.pem`, '-out', `${name}.pem`,
      '-days', '2', '-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  };
  const leaf = async (name: string, cn: string, ext: string) => {
    writeFileSync(join(dir, `${name}.ext`), ext);
    await openssl(dir, 'req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}-key.pem`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
    await openssl(dir, 'x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial',
      '-days', '2', '-sha256', '-extfile', `${name}.ext`, '-out', `${name}-cert.pem`);
  };
  await ca('ca');
  await ca('other-ca');
  await leaf('server', 'localhost', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  await leaf('client', 'dockwatch-agent', 'extendedKeyUsage=clientAuth\n');
  const clientDir = join(dir, 'client');
  const wrongCaDir = join(dir, 'wrong-ca');
  for (const [d, caFile] of [[clientDir, 'ca.pem'], [wrongCaDir, 'other-ca.pem']] as const) {
    mkdirSync(d, { recursive: true });
    copyFileSync(join(dir, caFile), join(d, 'ca.pem'));
    copyFileSync(join(dir, 'client-cert.pem'), join(d, 'cert.pem'));
    copyFileSync(join(dir, 'client-key.pem'), join(d, 'key.pem'));
  }
  return { dir, clientDir, wrongCaDir, server: { ca: join(dir, 'ca.pem'), cert: join(dir, 'server-cert.pem'), key: join(dir, 'server-key.pem') } };
}

export interface TlsDockerd {
  /** tcp://127.0.0.1:<port> */
  host: string;
  port: number;
  certs: TlsCerts;
  /** The docker CLI against this daemon, over TLS with the client certificate. */
  docker(...args: string[]): Promise<string>;
  /** Env for a client of this daemon: DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH. */
  env: Record<string, string>;
  log(): string;
  stop(): Promise<void>;
}

/**
 * Starts dockerd --tlsverify and copies `image` into it from the engine at `sourceDockerHost`.
 * Root's short /tmp paths keep containerd's socket path under the 108-byte limit.
 */
export async function startTlsDockerd(opts: { sourceDockerHost: string; image: string; root?: string }): Promise<TlsDockerd> {
  const root = opts.root ?? mkdtempSync('/tmp/dwtls-');
  const certs = await makeTlsCerts(join(root, 'certs'));
  const port = await freePort();
  const host = `tcp://127.0.0.1:${port}`;
  let out = '';
  const child: ChildProcess = spawn('dockerd', [
    '--tlsverify', `--tlscacert=${certs.server.ca}`, `--tlscert=${certs.server.cert}`, `--tlskey=${certs.server.key}`,
    `--host=${host}`, '--storage-driver=vfs', '--iptables=false', '--ip6tables=false', '--bridge=none',
    `--data-root=${join(root, 'root')}`, `--exec-root=${join(root, 'exec')}`, `--pidfile=${join(root, 'docker.pid')}`,
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { out = (out + d.toString()).slice(-20_000); });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const env = { DOCKER_HOST: host, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certs.clientDir };
  const docker = async (...args: string[]): Promise<string> => {
    const { stdout } = await run('docker', args, { env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 });
    return stdout.trim();
  };
  const stop = async () => {
    try {
      const ids = await docker('ps', '-aq');
      if (ids) await docker('rm', '-f', ...ids.split('\n'));
    } catch { /* the daemon may be gone already */ }
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(t);
    rmSync(root, { recursive: true, force: true });
  };
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`dockerd --tlsverify exited:\n${out.slice(-3000)}`);
      try {
        await docker('version', '--format', '{{.Server.Version}}');
        break;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`dockerd --tlsverify did not answer in 60 s: ${String(err)}\n${out.slice(-3000)}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    // Copy the test image over: no image can be pulled here.
    const tar = join(root, 'image.tar');
    await run('docker', ['save', '-o', tar, opts.image], { env: { ...process.env, DOCKER_HOST: opts.sourceDockerHost, DOCKER_TLS_VERIFY: '', DOCKER_CERT_PATH: '' } });
    await docker('load', '-i', tar);
    rmSync(tar, { force: true });
  } catch (err) {
    await stop();
    throw err;
  }
  return { host, port, certs, docker, env, log: () => out, stop };
}
