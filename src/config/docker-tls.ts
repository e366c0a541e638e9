// DOCKER_HOST / DOCKER_TLS_VERIFY / DOCKER_TLS / DOCKER_CERT_PATH, read as the docker CLI reads
// them (docker/cli cli/flags/options.go):
//   - DOCKER_TLS_VERIFY set to any non-empty value (even "0") -> TLS, and the daemon's certificate
//     must chain to $DOCKER_CERT_PATH/ca.pem and name the host;
//   - DOCKER_TLS non-empty without DOCKER_TLS_VERIFY -> TLS without checking the daemon's certificate;
//   - neither -> tcp:// is plain HTTP;
//   - DOCKER_CERT_PATH defaults to $DOCKER_CONFIG, else ~/.docker; files ca.pem, cert.pem, key.pem;
//   - with TLS and no DOCKER_HOST the engine is tcp://localhost:2376.
// One deliberate difference: with DOCKER_TLS_VERIFY the agent requires cert.pem and key.pem, where
// the CLI quietly goes on without a client certificate (a daemon run with --tlsverify would then
// refuse every call, and the agent would retry forever instead of saying why at start-up).
// The files are read and parsed here so that a bad one stops the agent with exit code 2 before it
// connects anywhere; problems name the variable and the file, never the contents.
import { readFileSync } from 'node:fs';
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Env } from './env.js';

export interface DockerTlsConfig {
  verify: boolean;
  /** The directory the files came from (DOCKER_CERT_PATH or its default). */
  certPath: string;
  /** Set when used: the CA only when verifying; cert and key as a pair, or neither. */
  caFile: string | undefined;
  certFile: string | undefined;
  keyFile: string | undefined;
}

export interface DockerSettings {
  dockerHost: string | undefined;
  dockerTls: DockerTlsConfig | undefined;
  /**
   * A tcp:// engine is remote, even at 127.0.0.1 (which may be a tunnel or a port-forward to
   * another host): its containers' cgroups are not on this machine, and neither is its host.
   */
  remote: boolean;
  /** The engine's host as DOCKER_HOST names it (remote only): the default HOST_NAME. */
  remoteHost: string | undefined;
}

const set = (v: string | undefined): boolean => v !== undefined && v !== '';

type Read = { ok: true; text: string } | { ok: false; missing: boolean; why: string };

function read(file: string): Read {
  try {
    return { ok: true, text: readFileSync(file, 'utf8') };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    return { ok: false, missing: code === 'ENOENT', why: code === 'ENOENT' ? 'not found' : `not readable (${code})` };
  }
}

export function readDockerSettings(env: Env, problems: string[]): DockerSettings {
  const verify = set(env.DOCKER_TLS_VERIFY);
  const tls = verify || set(env.DOCKER_TLS);
  const rawHost = env.DOCKER_HOST?.trim() || undefined;
  const dockerHost = rawHost ?? (tls ? 'tcp://localhost:2376' : undefined);
  const m = dockerHost === undefined ? null : /^(?:tcp|http|https):\/\/(?:\[([^\]]+)\]|([^:/]+))/.exec(dockerHost);
  const base = { dockerHost, remote: m !== null, remoteHost: m ? (m[1] ?? m[2]) : undefined };
  // TLS applies to tcp:// only; a unix socket ignores it, as the CLI's transport does.
  if (!tls || dockerHost === undefined || !/^tcp:\/\//.test(dockerHost)) return { ...base, dockerTls: undefined };

  const certPath = env.DOCKER_CERT_PATH?.trim() || env.DOCKER_CONFIG?.trim() || join(env.HOME || homedir(), '.docker');
  const label = `DOCKER_CERT_PATH=${JSON.stringify(certPath)}${env.DOCKER_CERT_PATH?.trim() ? '' : ' (default)'}`;
  const why = verify ? 'required with DOCKER_TLS_VERIFY' : 'required with DOCKER_TLS when the other half of the pair is there';
  const files = { ca: join(certPath, 'ca.pem'), cert: join(certPath, 'cert.pem'), key: join(certPath, 'key.pem') };
  const cfg: DockerTlsConfig = { verify, certPath, caFile: undefined, certFile: undefined, keyFile: undefined };

  if (verify) {
    const ca = read(files.ca);
    if (!ca.ok) problems.push(`${label}: ca.pem ${ca.why} (${files.ca}); ${why}`);
    else if (!pemCertificates(ca.text)) problems.push(`${label}: ca.pem is not a PEM certificate (${files.ca})`);
    else cfg.caFile = files.ca;
  }

  const cert = read(files.cert);
  const key = read(files.key);
  // Without verification a client certificate is optional, as with the CLI: both absent is fine.
  if (!verify && !cert.ok && cert.missing && !key.ok && key.missing) return { ...base, dockerTls: cfg };
  let certObj: X509Certificate | undefined;
  let keyObj: KeyObject | undefined;
  if (!cert.ok) problems.push(`${label}: cert.pem ${cert.why} (${files.cert}); ${why}`);
  else if (!(certObj = pemCertificates(cert.text)?.[0])) problems.push(`${label}: cert.pem is not a PEM certificate (${files.cert})`);
  if (!key.ok) problems.push(`${label}: key.pem ${key.why} (${files.key}); ${why}`);
  else {
    try {
      keyObj = createPrivateKey(key.text);
    } catch {
      // The parser's message is not echoed: it could quote the file.
      problems.push(`${label}: key.pem is not a PEM private key (${files.key})`);
    }
  }
  if (certObj && keyObj) {
    if (!certObj.checkPrivateKey(keyObj)) problems.push(`${label}: key.pem does not belong to cert.pem (${files.key})`);
    else {
      cfg.certFile = files.cert;
      cfg.keyFile = files.key;
    }
  }
  return { ...base, dockerTls: cfg };
}

function pemCertificates(text: string): X509Certificate[] | undefined {
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  if (!blocks) return undefined;
  try {
    return blocks.map((b) => new X509Certificate(b));
  } catch {
    return undefined;
  }
}
