// Where the server's API credentials come from: options/environment plus an optional keys file
// of "SECRET_ID SECRET_KEY" lines ('#' starts a comment).

import { readFile } from 'node:fs/promises';

import type { Credential } from './server-options';

export function parseKeysFile(text: string, fileName: string): Credential[] {
  const out: Credential[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') return;
    const parts = line.split(/\s+/);
    if (parts.length !== 2) throw new Error(`${fileName}:${i + 1}: expected "SECRET_ID SECRET_KEY"`);
    out.push({ secretId: parts[0]!, secretKey: parts[1]! });
  });
  return out;
}

export async function loadCredentials(given: Credential[], keysFile: string | undefined): Promise<Credential[]> {
  const all = [...given];
  if (keysFile !== undefined) all.push(...parseKeysFile(await readFile(keysFile, 'utf8'), keysFile));
  const seen = new Set<string>();
  for (const c of all) {
    if (c.secretId === '' || c.secretKey === '') throw new Error('a credential has an empty SecretId or SecretKey');
    if (seen.has(c.secretId)) throw new Error(`SecretId ${c.secretId} is configured twice`);
    seen.add(c.secretId);
  }
  return all;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
