// Parses an `opencmq` command line, runs the command, and maps failures to the exit codes:
// 0 ok, 1 error (printed as `error <code>: <message>`), 2 usage error.

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { CmqError, CmqNetworkError } from '../client/errors';
import { CLIENT_VERSION } from '../client/version';
import type { CmqClientOptions } from '../client/client';
import { EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, UsageError, type CliClient, type CliDeps, type CliIo } from './cli-io';
import { COMMANDS, type CommandSpec } from './commands';
import { GLOBAL_HELP, GLOBAL_OPTIONS, stringOpt, type OptionSpecs, type OptionValues } from './options';

export const DEFAULT_ENDPOINT = 'http://127.0.0.1:9600';

/** Options that take a value, across every command: needed to find the command words. */
const VALUE_OPTIONS = new Set<string>();
const SHORT_VALUE_OPTIONS = new Set<string>();
for (const specs of [GLOBAL_OPTIONS, ...COMMANDS.map((c) => c.options)]) {
  for (const [name, spec] of Object.entries(specs)) {
    if (spec.type !== 'string') continue;
    VALUE_OPTIONS.add(name);
    if (spec.short !== undefined) SHORT_VALUE_OPTIONS.add(spec.short);
  }
}

/** The positional words before any command argument, skipping options and their values. */
function leadingWords(argv: readonly string[], max: number): string[] {
  const words: string[] = [];
  for (let i = 0; i < argv.length && words.length < max; i++) {
    const a = argv[i] ?? '';
    if (a === '--') break;
    if (a.startsWith('--')) {
      if (!a.includes('=') && VALUE_OPTIONS.has(a.slice(2))) i++;
    } else if (a.startsWith('-') && a.length > 1) {
      if (a.length === 2 && SHORT_VALUE_OPTIONS.has(a.slice(1))) i++;
    } else {
      words.push(a);
    }
  }
  return words;
}

/** A first word shared by two-word commands: cluster, queue, topic, subscription, wal. */
function isCommandGroup(word: string): boolean {
  return COMMANDS.some((c) => c.words.length > 1 && c.words[0] === word);
}

export function findCommand(argv: readonly string[]): CommandSpec | undefined {
  const words = leadingWords(argv, 2);
  return COMMANDS.find((c) => c.words.every((w, i) => words[i] === w));
}

/** `  words  summary` lines, the summaries in one column. */
function commandLines(commands: readonly CommandSpec[]): string[] {
  const width = Math.max(...commands.map((c) => c.words.join(' ').length));
  return commands.map((c) => `  ${c.words.join(' ').padEnd(width)}  ${c.summary}`);
}

export function topLevelHelp(): string[] {
  return [
    'usage: opencmq <command> [options]',
    '',
    'Commands:',
    ...commandLines(COMMANDS),
    '',
    ...GLOBAL_HELP,
    '  -V, --version        print the version and exit',
    '',
    'Run "opencmq <command> --help" for the command’s options, "opencmq <group> --help" for a group’s',
    `commands (${[...new Set(COMMANDS.filter((c) => c.words.length > 1).map((c) => c.words[0]))].join(', ')}).`,
  ];
}

/** Help for a command group: its commands only. */
export function groupHelp(group: string): string[] {
  return [
    `usage: opencmq ${group} <command> [options]`,
    '',
    'Commands:',
    ...commandLines(COMMANDS.filter((c) => c.words.length > 1 && c.words[0] === group)),
    '',
    `Run "opencmq ${group} <command> --help" for the command’s options, "opencmq --help" for every command.`,
  ];
}

export function commandHelp(c: CommandSpec): string[] {
  const lines = [`usage: ${c.usage}`, '', c.summary];
  if (c.help.length > 0) lines.push('', ...c.help);
  lines.push('', ...GLOBAL_HELP);
  return lines;
}

function parseCommandLine(c: CommandSpec, argv: readonly string[]): { args: string[]; opts: OptionValues } {
  const options: OptionSpecs = { ...GLOBAL_OPTIONS, ...c.options };
  let parsed: { values: OptionValues; positionals: string[] };
  try {
    const r = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
    parsed = { values: r.values, positionals: r.positionals };
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  return { args: parsed.positionals.slice(c.words.length), opts: parsed.values };
}

function clientOptions(opts: OptionValues, env: CliIo['env']): CmqClientOptions {
  const endpoint = stringOpt(opts, 'endpoint') ?? env.OPENCMQ_ENDPOINT ?? DEFAULT_ENDPOINT;
  const secretId = stringOpt(opts, 'secret-id') ?? env.OPENCMQ_SECRET_ID;
  const secretKey = stringOpt(opts, 'secret-key') ?? env.OPENCMQ_SECRET_KEY;
  if ((secretId === undefined) !== (secretKey === undefined)) {
    throw new UsageError('--secret-id and --secret-key (or OPENCMQ_SECRET_ID and OPENCMQ_SECRET_KEY) go together');
  }
  // A comma-separated list names several members of one set: the client fails over between them.
  const urls = endpoint.split(',').map((e) => e.trim()).filter((e) => e !== '');
  if (urls.length === 0) throw new UsageError('--endpoint is empty');
  for (const url of urls) {
    try {
      new URL(url);
    } catch {
      throw new UsageError(`--endpoint is not a URL: ${url}`);
    }
  }
  const out: CmqClientOptions = urls.length === 1 ? { endpoint: urls[0]! } : { endpoints: urls };
  if (secretId !== undefined && secretKey !== undefined) {
    out.secretId = secretId;
    out.secretKey = secretKey;
  }
  const ca = stringOpt(opts, 'ca') ?? (env.OPENCMQ_CA || undefined);
  const cert = stringOpt(opts, 'client-cert') ?? (env.OPENCMQ_CLIENT_CERT || undefined);
  const key = stringOpt(opts, 'client-key') ?? (env.OPENCMQ_CLIENT_KEY || undefined);
  if ((cert === undefined) !== (key === undefined)) {
    throw new UsageError('--client-cert and --client-key (or OPENCMQ_CLIENT_CERT and OPENCMQ_CLIENT_KEY) go together');
  }
  if (ca !== undefined) out.ca = pemFile('--ca', ca);
  if (cert !== undefined && key !== undefined) {
    out.cert = pemFile('--client-cert', cert);
    out.key = pemFile('--client-key', key);
  }
  return out;
}

function pemFile(option: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new UsageError(`${option} ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** Runs one command line; resolves to the process exit code. Never throws. */
export async function runCli(argv: readonly string[], io: CliIo, deps: CliDeps): Promise<number> {
  const command = findCommand(argv);
  if (command === undefined) {
    const words = leadingWords(argv, 2);
    // `opencmq help [group [command]]` is `opencmq [group [command]] --help`.
    if (words[0] === 'help') {
      const at = argv.indexOf('help');
      return runCli([...argv.slice(0, at), ...argv.slice(at + 1), '--help'], io, deps);
    }
    if (words.length === 0 && (argv.includes('--version') || argv.includes('-V'))) {
      io.out(`opencmq ${CLIENT_VERSION}`);
      return EXIT_OK;
    }
    const group = isCommandGroup(words[0] ?? '') ? words[0] : undefined;
    const help = group === undefined ? topLevelHelp() : groupHelp(group);
    const wantsHelp = argv.includes('--help') || argv.includes('-h');
    if (wantsHelp && (words.length === 0 || (group !== undefined && words.length === 1))) {
      for (const line of help) io.out(line);
      return EXIT_OK;
    }
    io.err(
      words.length === 0
        ? 'usage error: no command given'
        : group !== undefined && words.length === 1
          ? `usage error: '${group}' needs one of: ${COMMANDS.filter((c) => c.words[0] === group).map((c) => c.words[1] ?? '').join(', ')}`
          : `usage error: unknown command '${words.join(' ')}'`,
    );
    for (const line of help) io.err(line);
    return EXIT_USAGE;
  }

  let client: CliClient | undefined;
  try {
    const { args, opts } = parseCommandLine(command, argv);
    if (opts.help === true) {
      for (const line of commandHelp(command)) io.out(line);
      return EXIT_OK;
    }
    if (args.length < command.minArgs || args.length > command.maxArgs) {
      throw new UsageError(args.length < command.minArgs ? 'missing arguments' : `unexpected argument '${args[command.maxArgs] ?? ''}'`);
    }
    return await command.run({
      args,
      opts,
      io,
      deps,
      json: opts.json === true,
      client: () => (client ??= deps.makeClient(clientOptions(opts, io.env))),
      clientFor: (endpoint, overrides = {}) => {
        const { endpoints: _all, ...base } = clientOptions(opts, io.env);
        return deps.makeClient({ ...base, ...overrides, endpoint });
      },
      endpoints: () => {
        const o = clientOptions(opts, io.env);
        return o.endpoints !== undefined ? [...o.endpoints] : [o.endpoint ?? DEFAULT_ENDPOINT];
      },
    });
  } catch (err) {
    return reportError(err, command, io);
  } finally {
    client?.close?.();
  }
}

function reportError(err: unknown, command: CommandSpec, io: CliIo): number {
  if (err instanceof UsageError) {
    io.err(`usage error: ${err.message}`);
    io.err(`usage: ${command.usage}   (see --help)`);
    return EXIT_USAGE;
  }
  if (err instanceof CmqError) {
    io.err(`error ${err.code}: ${err.cmqMessage}`);
    return EXIT_ERROR;
  }
  if (err instanceof CmqNetworkError) {
    if (err.kind === 'aborted' && io.signal.aborted) return EXIT_INTERRUPTED;
    io.err(`error network: ${err.message}`);
    return EXIT_ERROR;
  }
  io.err(`error: ${err instanceof Error ? err.message : String(err)}`);
  return EXIT_ERROR;
}
