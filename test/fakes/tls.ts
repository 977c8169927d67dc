/**
 * A throwaway self-signed certificate for loopback TLS fakes (the OpenAI SDK always dials wss). Made
 * with the openssl CLI into a temp dir; `certFile` is what a client is told to trust
 * (OPENAI_CA_FILE, or `ca` in ws options). Remove it with `dispose()`.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TestCertificate {
  readonly key: string;
  readonly cert: string;
  /** The certificate as a PEM file: it is its own CA. */
  readonly certFile: string;
  dispose(): Promise<void>;
}

export async function createTestCertificate(host = '127.0.0.1'): Promise<TestCertificate> {
  const dir = await mkdtemp(join(tmpdir(), 'vg-tls-'));
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  const san = /^[\d.]+$/.test(host) || host.includes(':') ? `IP:${host}` : `DNS:${host}`;
  try {
    await run('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', `/CN=${host}`, '-addext', `subjectAltName=${san}`, '-keyout', keyFile, '-out', certFile,
    ]);
    const [key, cert] = await Promise.all([readFile(keyFile, 'utf8'), readFile(certFile, 'utf8')]);
    return { key, cert, certFile, dispose: () => rm(dir, { recursive: true, force: true }) };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
